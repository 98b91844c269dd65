/**
 * USER MOVE (SPEC §4, §12): a user's Maildir goes from the node that holds it (A) to
 * another (B) over PortCluster, then the directory switches the home, then A's copy is
 * removed. A runs it, whichever node the administrator asked (that node asks A):
 *
 *   1. journal DirBase/moves/<user>.json {to, phase: "copy"} (durable) on A
 *   2. copy pass: every folder, its messages with flags, INTERNALDATE and UIDs, to B,
 *      which stores them with the import machinery (src/import/target.ts): a message
 *      already there (same bytes, counted) is skipped, so a pass can always run again;
 *      B answers once everything is fsync'd
 *   3. directory.modUser(..., {node: B}); journal phase "switched"; IMAP and POP3 sessions
 *      of the user still open on A end
 *   4. a pause for every node to follow (within 1 s) and deliveries in flight to finish;
 *      A refuses LMTP for the user from the switch on (451: the sender retries at B)
 *   5. a second pass: what arrived at A before the switch
 *   6. A's copy removed, the journal removed
 *
 * Killed at any point, the journal says where to resume: a daemon starting with one
 * runs the move again from the start (passes are idempotent, the switch too); an
 * administrator may also run USER MOVE again. Nothing is lost (A's copy is removed only
 * after B confirmed both passes durable) and nothing is duplicated (B skips present
 * messages). Not carried: flag changes and expunges made at A after the first pass.
 *
 * Wire (after the MOVE-IN request, B answers "250 ready"):
 *   FOLDER <json {name, uids}>           then per message
 *   MSG <json {size, flags, date, uid}>  followed by exactly size octets
 *   FLAGS <json [{uid, add, remove}]>     second pass: flag differences, by UID
 *   EXPUNGE <json [uid...]>               second pass: messages gone at A
 *   DONE                                  B: "250 <imported> <present>" when durable
 */
import { join } from "node:path";
import { log } from "../log.ts";
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import { ensureDirDurable, writeFileAtomic } from "../store/fsutil.ts";
import { findFolders, readFolder, readMessage } from "../import/maildir_source.ts";
import { type ImportItem, type SourceUidState, TargetFolder } from "../import/target.ts";
import { lineWithin, PeerError } from "./peers.ts";
import {
  applyDelta,
  type FlagChange,
  folderDelta,
  type SentFolder,
  type SentRecord,
} from "./move_delta.ts";

/** Pause after the switch: other nodes follow within 1 s (SPEC §12). */
export const SWITCH_SETTLE_MS = 2000;
const BATCH = 200;
const REPLY_MS = 600_000;

interface Journal {
  to: string;
  phase: "copy" | "switched";
}

function journalDir(ctx: ServerContext): string {
  return join(ctx.config.DirBase, "moves");
}

function journalPath(ctx: ServerContext, user: UserRecord): string {
  return join(journalDir(ctx), `${user.name}@${user.domain}.json`);
}

async function writeJournal(ctx: ServerContext, user: UserRecord, j: Journal): Promise<void> {
  await ensureDirDurable(journalDir(ctx));
  await writeFileAtomic(journalPath(ctx, user), JSON.stringify(j));
}

async function readJournal(ctx: ServerContext, user: UserRecord): Promise<Journal | null> {
  try {
    return JSON.parse(await Deno.readTextFile(journalPath(ctx, user)));
  } catch {
    return null;
  }
}

/** Moves, one at a time per user, on the node that holds the Maildir. */
export class UserMoves {
  readonly #running = new Map<string, Promise<string>>();

  /**
   * Runs (or resumes, or joins) the move of `user` to `to`; resolves to a summary.
   * Only on the node that holds the Maildir (homeOf local, or a journal here says so).
   */
  move(ctx: ServerContext, user: UserRecord, to: string): Promise<string> {
    const key = `${user.name}@${user.domain}`;
    let run = this.#running.get(key);
    if (!run) {
      run = (async () => {
        // Asked of the node the user is already served from (a move that finished).
        if (to === ctx.config.NodeName && !(await readJournal(ctx, user))) {
          return `${key} is already on node ${to}`;
        }
        return await runMove(ctx, user, to);
      })().finally(() => this.#running.delete(key));
      this.#running.set(key, run);
    }
    return run;
  }

  /** Does this node hold the Maildir of `user` (its home, or a move not finished)? */
  async holds(ctx: ServerContext, user: UserRecord): Promise<boolean> {
    return ctx.homeOf(user) === "local" || (await readJournal(ctx, user)) !== null;
  }

  /** At start: every journal left by a process that died runs again, in the background. */
  async resume(ctx: ServerContext): Promise<void> {
    const logger = log("cluster");
    let names: string[] = [];
    try {
      for await (const e of Deno.readDir(journalDir(ctx))) {
        if (e.name.endsWith(".json")) names.push(e.name.slice(0, -5));
      }
    } catch {
      names = [];
    }
    for (const address of names) {
      const at = address.lastIndexOf("@");
      const user = ctx.directory.getUser(address.slice(0, at), address.slice(at + 1));
      if (!user) {
        // Deleted since (USER DEL removed the mail wherever it was): nothing to move.
        logger.info(`USER MOVE of ${address} dropped: the user no longer exists`);
        await Deno.remove(join(journalDir(ctx), `${address}.json`)).catch(() => {});
        continue;
      }
      const j = await readJournal(ctx, user);
      if (!j) continue;
      logger.info(`resuming USER MOVE of ${address} to ${j.to} (${j.phase})`);
      this.move(ctx, user, j.to).then(
        (summary) => logger.info(`USER MOVE of ${address} finished: ${summary}`),
        (e) => logger.error(`USER MOVE of ${address} failed again: ${(e as Error).message}`),
      );
    }
  }

  /** The cluster request "MOVE user node" from the node an administrator asked. */
  async serveRequest(ctx: ServerContext, conn: Connection, user: UserRecord, to: string) {
    try {
      if (!(await this.holds(ctx, user))) {
        conn.send(`451 4.3.0 node ${ctx.config.NodeName} does not hold this mailbox\r\n`);
      } else conn.send(`250 ${await this.move(ctx, user, to)}\r\n`);
    } catch (e) {
      conn.send(`451 4.3.0 ${(e as Error).message.replace(/[\r\n]+/g, " ")}\r\n`);
    }
    conn.close();
  }
}

async function runMove(ctx: ServerContext, userIn: UserRecord, to: string): Promise<string> {
  const logger = log("cluster");
  const address = `${userIn.name}@${userIn.domain}`;
  const root = ctx.store.userRoot(userIn);
  let journal = await readJournal(ctx, userIn);
  if (journal && journal.to !== to) {
    throw new Error(`a move of ${address} to ${journal.to} is not finished; finish it first`);
  }
  if (!journal) {
    journal = { to, phase: "copy" };
    await writeJournal(ctx, userIn, journal);
  }
  logger.info(`USER MOVE ${address} to ${to}: copying ${root}`);
  const sent: SentRecord = new Map();
  const first = await copyPass(ctx, userIn, root, to, null, sent);
  const current = ctx.directory.getUser(userIn.name, userIn.domain);
  if (!current) throw new Error(`user ${address} was deleted during the move`);
  if (current.node !== to) await ctx.directory.modUser(current.name, current.domain, { node: to });
  await writeJournal(ctx, current, { to, phase: "switched" });
  // Sessions still open here on the old copy end (their clients log in again, and are
  // served from the new home); what they would change here would not be carried.
  for (const s of ctx.sessions) if (s.user?.() === address) void s.goodbye();
  logger.info(`USER MOVE ${address}: home is now ${to}; copying what arrived meanwhile`);
  await new Promise((r) => setTimeout(r, SWITCH_SETTLE_MS));
  const second = await copyPass(ctx, current, root, to, sent, new Map());
  await Deno.remove(root, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.remove(journalPath(ctx, current));
  const summary = `${address} moved to node ${to}: ${first.imported + second.imported} ` +
    `messages copied (${first.present + second.present} already there)`;
  logger.info(`USER MOVE ${summary}; the copy on this node was removed`);
  return summary;
}

const encoder = new TextEncoder();

/**
 * One pass: every folder's messages to `to`, which answers when they are durable. The
 * first pass (`before` null) sends every message; the second only what changed since.
 * What was sent is recorded in `record`.
 */
async function copyPass(
  ctx: ServerContext,
  user: UserRecord,
  root: string,
  to: string,
  before: SentRecord | null,
  record: SentRecord,
) {
  const address = `${user.name}@${user.domain}`;
  const link = await ctx.peers.open(to, { kind: "move-in", address });
  try {
    const ready = await lineWithin(link, 30_000, "MOVE-IN reply");
    if (!ready.startsWith("250")) throw new PeerError(`node ${to} refused: ${ready}`);
    let folders: { name: string; path: string }[] = [];
    try {
      folders = await findFolders(root);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    for (const f of folders) {
      const content = await readFolder(f.path);
      const sent: SentFolder = { uids: content.uids, messages: new Map() };
      record.set(f.name, sent);
      await link.write(`FOLDER ${JSON.stringify({ name: f.name, uids: content.uids })}\r\n`);
      const delta = before
        ? folderDelta(before.get(f.name), content.uids, content.messages)
        : { send: content.messages, flagChanges: [], expunged: [] };
      for (const m of delta.send) {
        let read;
        try {
          read = readMessage(m.path);
        } catch (e) {
          // Expunged meanwhile: not to be copied.
          if (e instanceof Deno.errors.NotFound) continue;
          throw e;
        }
        sent.messages.set(m.base, { uid: m.uid, flags: m.flags });
        const head = {
          size: read.data.length,
          flags: m.flags,
          date: read.internalDate,
          uid: m.uid,
        };
        await link.write(encoder.encode(`MSG ${JSON.stringify(head)}\r\n`));
        await link.write(read.data);
      }
      for (const line of jsonLines("FLAGS", delta.flagChanges)) await link.write(line);
      for (const line of jsonLines("EXPUNGE", delta.expunged)) await link.write(line);
    }
    // Folders gone since the first pass: their messages are expunged there too (the
    // folder itself stays: the user may already be using it at the new home).
    for (const [name, gone] of before ?? []) {
      if (record.has(name) || gone.uids === null) continue;
      const uids = [...gone.messages.values()].flatMap((m) => m.uid === null ? [] : [m.uid]);
      if (uids.length === 0) continue;
      await link.write(`FOLDER ${JSON.stringify({ name, uids: gone.uids })}\r\n`);
      for (const line of jsonLines("EXPUNGE", uids)) await link.write(line);
    }
    await link.write("DONE\r\n");
    const done = await lineWithin(link, REPLY_MS, "DONE reply");
    const m = /^250 (\d+) (\d+)/.exec(done);
    if (!m) throw new PeerError(`node ${to} failed to store the copy: ${done}`);
    return { imported: Number(m[1]), present: Number(m[2]) };
  } finally {
    link.close();
  }
}

/** Longest JSON list in one line: lineWithin reads lines of at most 4096 octets. */
const MAX_LIST_CHARS = 3000;

/** `items` as lines `<verb> <json list>\r\n`, each list short enough for one line. */
export function jsonLines(verb: string, items: readonly unknown[]): string[] {
  const lines: string[] = [];
  let part: string[] = [];
  let size = 0;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (part.length > 0 && size + json.length + 1 > MAX_LIST_CHARS) {
      lines.push(`${verb} [${part.join(",")}]\r\n`);
      part = [];
      size = 0;
    }
    part.push(json);
    size += json.length + 1;
  }
  if (part.length > 0) lines.push(`${verb} [${part.join(",")}]\r\n`);
  return lines;
}

/** The receiving side (B): stores what copyPass sends, answers when it is durable. */
export async function moveIn(ctx: ServerContext, conn: Connection, user: UserRecord, peer: string) {
  const logger = log("cluster", conn.id);
  const root = ctx.store.userRoot(user);
  await ctx.store.ensureMailbox(root);
  conn.send("250 ready\r\n");
  let imported = 0, present = 0;
  let target: TargetFolder | null = null;
  let folderName = "";
  let source: SourceUidState | null = null;
  let changed = 0;
  // Second pass: a difference for messages the new home does not identify by UID.
  const applied = (n: number | null) => {
    if (n === null) {
      logger.warn(
        `USER MOVE of ${user.name}@${user.domain}: ${folderName} no longer has the ` +
          `source's UIDVALIDITY here; flag changes and expunges made at ${peer} not carried`,
      );
    } else changed += n;
  };
  let batch: ImportItem[] = [];
  const flush = async () => {
    if (!target || batch.length === 0) return;
    const outcomes = await target.add(batch, source);
    batch = [];
    for (const o of outcomes) {
      if (o === "imported") imported++;
      else if (o === "present") present++;
      else throw o;
    }
  };
  const finishFolder = async () => {
    await flush();
    await target?.finish(source);
  };
  try {
    for (;;) {
      const line = await lineWithin(conn, REPLY_MS, "move data");
      if (line.startsWith("FOLDER ")) {
        await finishFolder();
        const f = JSON.parse(line.slice(7)) as { name: string; uids: SourceUidState | null };
        target = await TargetFolder.open(ctx.store, root, f.name, false);
        folderName = f.name;
        source = f.uids;
      } else if (line.startsWith("MSG ") && target) {
        const m = JSON.parse(line.slice(4)) as {
          size: number;
          flags: string[];
          date: number | null;
          uid: number | null;
        };
        const data = await conn.readBytes(m.size);
        if (data === null) throw new Error("connection closed in a message");
        batch.push({ data, flags: m.flags, internalDate: m.date, sourceUid: m.uid });
        if (batch.length >= BATCH) await flush();
      } else if (line.startsWith("FLAGS ") && target) {
        await flush();
        const changes = JSON.parse(line.slice(6)) as FlagChange[];
        applied(await applyDelta(ctx.store, root, folderName, source, changes, []));
      } else if (line.startsWith("EXPUNGE ") && target) {
        await flush();
        const uids = JSON.parse(line.slice(8)) as number[];
        applied(await applyDelta(ctx.store, root, folderName, source, [], uids));
      } else if (line === "DONE") {
        await finishFolder();
        logger.info(
          `USER MOVE of ${user.name}@${user.domain} from ${peer}: ${imported} stored, ` +
            `${present} present, ${changed} changed`,
        );
        conn.send(`250 ${imported} ${present}\r\n`);
        conn.close();
        return;
      } else throw new Error(`unexpected line ${JSON.stringify(line.slice(0, 60))}`);
    }
  } catch (e) {
    logger.error(`USER MOVE of ${user.name}@${user.domain} from ${peer}: ${(e as Error).message}`);
    conn.send(`451 4.3.0 ${(e as Error).message.replace(/[\r\n]+/g, " ")}\r\n`);
    conn.close();
  }
}

/** USER MOVE on a node that does not hold the Maildir: asks the one that does. */
export async function askHolder(
  ctx: ServerContext,
  holder: string,
  user: UserRecord,
  to: string,
): Promise<string> {
  const reply = await ctx.peers.ask(
    holder,
    {
      kind: "move",
      address: `${user.name}@${user.domain}`,
      node: to,
    },
    REPLY_MS,
    "USER MOVE reply",
  );
  if (!reply.startsWith("250 ")) throw new Error(`node ${holder}: ${reply.slice(4)}`);
  return reply.slice(4);
}
