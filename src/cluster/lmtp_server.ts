/**
 * The home node's side of delivery over PortCluster (SPEC §12): LMTP (RFC 2033) from a
 * proven peer node, which already applied the SMTP policy (deny entries, relay, aliases,
 * lists, mail authentication) and wrote the trace fields. Here each RCPT must be a user
 * homed on this node; at the end of the data the limits are applied with the current
 * record (MAXIN, QUOTA: the usage is known here) and every copy is stored with one
 * durable `store.deliver` before the per-recipient 250s (RFC 2033 §4.2).
 */
import { log } from "../log.ts";
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import type { UserRecord } from "../directory/records.ts";
import { userLimit } from "../delivery/plan.ts";
import * as R from "../delivery/replies.ts";
import { MessageContent } from "../store/content.ts";

const MAX_LINE = 4096;
/** Message data up to this size is read into memory; larger goes to a file first. */
const IN_MEMORY = 4 * 1024 * 1024;
const FOLDERS = ["Junk"];

interface Rcpt {
  user: UserRecord;
  address: string;
  folder?: string;
}

const decoder = new TextDecoder();

/** Runs the LMTP session on an authenticated cluster connection from node `peer`. */
export async function lmtpSession(ctx: ServerContext, conn: Connection, peer: string) {
  // A shutdown lets a transaction being received and stored finish and answer, then
  // closes the link (the sending node gets its 250s or sees the link end before them).
  const state = { storing: false, stopping: false };
  const unregister = ctx.register({
    family: "cluster",
    conn,
    goodbye: () => {
      if (state.storing) state.stopping = true;
      else conn.close();
    },
  });
  try {
    await serve(ctx, conn, peer, state);
  } finally {
    unregister();
  }
}

async function serve(
  ctx: ServerContext,
  conn: Connection,
  peer: string,
  state: { storing: boolean; stopping: boolean },
) {
  const logger = log("lmtp", conn.id);
  const node = ctx.config.NodeName;
  conn.send(`220 ${node} LMTP ready\r\n`);
  let from: string | null = null;
  let rcpts: Rcpt[] = [];
  for (;;) {
    const read = await conn.readLine(MAX_LINE).catch(() => null);
    if (read === null) return;
    const line = decoder.decode(read.line);
    const verb = line.split(" ", 1)[0].toUpperCase();
    if (verb === "LHLO") {
      conn.send(
        `250-${node}\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE\r\n250 ENHANCEDSTATUSCODES\r\n`,
      );
    } else if (verb === "MAIL") {
      const m = /^MAIL FROM:<([^>]*)>/i.exec(line);
      if (!m) conn.send("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
      else {
        from = m[1];
        rcpts = [];
        conn.send("250 2.1.0 Ok\r\n");
      }
    } else if (verb === "RCPT") {
      if (from === null) {
        conn.send("503 5.5.1 MAIL first\r\n");
        continue;
      }
      const reply = checkRcpt(ctx, line, rcpts);
      conn.send(reply);
    } else if (verb === "BDAT" || verb === "DATA") {
      if (from === null || rcpts.length === 0) {
        conn.send("503 5.5.1 No valid recipients\r\n");
        if (verb === "BDAT") conn.destroy(); // the chunk that follows cannot be skipped safely
        continue;
      }
      state.storing = true;
      try {
        const data = verb === "BDAT" ? await readChunk(ctx, conn, line) : await readData(conn);
        if (data === null) return;
        const replies = await store(ctx, rcpts, data, logger, peer, from);
        if (!(data instanceof Uint8Array)) {
          for (const p of data.parts) {
            if (!(p instanceof Uint8Array)) await Deno.remove(p.path).catch(() => {});
          }
        }
        conn.send(replies.join(""));
      } finally {
        state.storing = false;
      }
      if (state.stopping) {
        conn.close();
        return;
      }
      from = null;
      rcpts = [];
    } else if (verb === "RSET") {
      from = null;
      rcpts = [];
      conn.send("250 2.0.0 Ok\r\n");
    } else if (verb === "NOOP") {
      conn.send("250 2.0.0 Ok\r\n");
    } else if (verb === "QUIT") {
      conn.send("221 2.0.0 Bye\r\n");
      conn.close();
      return;
    } else {
      conn.send("500 5.5.2 Unknown command\r\n");
    }
  }
}

function checkRcpt(ctx: ServerContext, line: string, rcpts: Rcpt[]): string {
  const m = /^RCPT TO:<([^>]*)>(?: FOLDER=(\S+))?$/i.exec(line);
  if (!m) return "501 5.5.4 Syntax: RCPT TO:<address> [FOLDER=name]\r\n";
  const folder = m[2];
  if (folder !== undefined && !FOLDERS.includes(folder)) return "501 5.5.4 Unknown FOLDER\r\n";
  let user: UserRecord | undefined;
  try {
    const { local, domain } = parseAddress(m[1]);
    user = ctx.directory.getUser(local, domain);
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
  }
  if (!user) return R.unknownUser(m[1]).toString();
  // The sender's directory may be a moment behind a USER MOVE: it retries, and then
  // reaches the new home.
  if (ctx.homeOf(user) !== "local") {
    return R.reply(451, "4.3.0", `<${R.safe(m[1])}>: not homed on this node`).toString();
  }
  rcpts.push({ user, address: m[1], folder });
  return R.recipientOk(m[1]).toString();
}

/** `BDAT <size> LAST`: the whole message in one chunk (what our client sends). */
async function readChunk(
  ctx: ServerContext,
  conn: Connection,
  line: string,
): Promise<Uint8Array | MessageContent | null> {
  const m = /^BDAT (\d{1,12}) LAST$/i.exec(line);
  if (!m) {
    conn.send("501 5.5.4 Only BDAT <size> LAST is accepted here\r\n");
    conn.destroy();
    return null;
  }
  const size = Number(m[1]);
  if (size <= IN_MEMORY) return await conn.readBytes(size);
  const { path, file } = await ctx.incoming.create(`lmtp-${conn.id}`);
  try {
    let left = size;
    while (left > 0) {
      const block = await conn.readBytes(Math.min(left, 256 * 1024));
      if (block === null) {
        await file.close();
        await Deno.remove(path).catch(() => {});
        return null;
      }
      await file.write(block);
      left -= block.length;
    }
    await file.close();
  } catch (e) {
    await file.close();
    await Deno.remove(path).catch(() => {});
    throw e;
  }
  return new MessageContent([{ path, offset: 0, length: size }]);
}

/** RFC 2033 §4.2 DATA: dot-terminated lines, unstuffed (RFC 5321 §4.5.2). */
async function readData(conn: Connection): Promise<Uint8Array | null> {
  conn.send("354 End data with <CR><LF>.<CR><LF>\r\n");
  const parts: Uint8Array[] = [];
  const crlf = new Uint8Array([13, 10]);
  for (;;) {
    const read = await conn.readLine(1 << 20);
    if (read === null) return null;
    let l = read.line;
    if (l.length === 1 && l[0] === 46) break;
    if (l[0] === 46) l = l.subarray(1);
    parts.push(l.slice(), crlf);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

/** The limits with the current records, then one durable store of every copy. */
async function store(
  ctx: ServerContext,
  rcpts: Rcpt[],
  data: Uint8Array | MessageContent,
  logger: ReturnType<typeof log>,
  peer: string,
  from: string,
): Promise<string[]> {
  const size = data instanceof Uint8Array ? data.length : data.size;
  const replies: string[] = new Array(rcpts.length);
  const targets: { i: number; root: string; folder?: string }[] = [];
  for (const [i, r] of rcpts.entries()) {
    const current = ctx.directory.getUser(r.user.name, r.user.domain);
    const refused = !current
      ? R.unknownUser(r.address)
      : ctx.homeOf(current) !== "local"
      ? R.reply(451, "4.3.0", `<${R.safe(r.address)}>: not homed on this node`)
      : await userLimit(ctx, current, size);
    if (refused) replies[i] = refused.toString();
    else targets.push({ i, root: ctx.store.userRoot(current!), folder: r.folder });
  }
  if (targets.length > 0) {
    try {
      for (const t of targets) await ctx.store.ensureMailbox(t.root);
      await ctx.store.deliver(
        targets.map((t) => (t.folder ? { root: t.root, folder: t.folder } : { root: t.root })),
        data,
      );
      for (const t of targets) {
        replies[t.i] = R.reply(250, "2.0.0", `<${R.safe(rcpts[t.i].address)}>: delivered`)
          .toString();
      }
      ctx.stats.delivered += targets.length;
      ctx.metrics.delivered("local", Date.now(), targets.length);
      logger.info(
        `from node ${peer}: from=<${from}> size=${size} to=${
          targets.map((t) => `<${rcpts[t.i].address}>`).join(",")
        }`,
      );
    } catch (e) {
      logger.error(`storing a message from node ${peer} failed: ${(e as Error).message}`);
      for (const t of targets) replies[t.i] = R.localError().toString();
    }
  }
  return replies;
}
