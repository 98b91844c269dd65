/**
 * The on-disk queue under `<DirBase>/queue/` (SPEC §7). Each entry is `<id>.msg`: one
 * line `XQ1 <n>`, the envelope as n bytes of JSON and a newline, then the message. It is
 * written to a temporary name, fsync'd, renamed and the directory synced (one file sync
 * per message), so it exists whole or not at all, and enqueue resolves only after that.
 * State changes go to `<id>.env` (the envelope alone, replaced atomically), which
 * overrides the copy in the .msg file. Removal unlinks the .msg first: a .env without
 * its .msg is debris.
 */
import { join } from "node:path";
import { MessageContent } from "../store/content.ts";
import { ensureDirDurable, readHeaderBlock, syncDir, writeFileAtomic } from "../store/fsutil.ts";
import { isQueueId } from "./id.ts";
export type RecipientState =
  /** Still to be delivered. */
  | "pending"
  /** Accepted by the next hop (250 to the data). */
  | "sent"
  /** Failed for good; its DSN is still to be sent. */
  | "failed"
  /** Failed and reported in a DSN (or dropped: a bounce never bounces). */
  | "reported";

export interface RecipientRecord {
  addr: string;
  state: RecipientState;
  /** RFC 3463 status of the last attempt ("" before any). */
  status: string;
  /** Last reply for this recipient, in SMTP reply form. */
  diag: string;
  /** Host that gave it ("" when none did). */
  mta: string;
  /** RFC 3461 NOTIFY (absent: failures only) and ORCPT of this recipient. */
  notify?: ("NEVER" | "SUCCESS" | "FAILURE" | "DELAY")[];
  orcpt?: { type: string; address: string };
  /** A "delayed" DSN was sent for it (once, NOTIFY=DELAY). */
  delayed?: boolean;
}

export interface EnvelopeRecord {
  v: 1;
  id: string;
  from: string;
  createdAt: number;
  size: number;
  smtpUtf8: boolean;
  eightBit: boolean;
  attempts: number;
  nextAttempt: number;
  lastError: string;
  rcpts: RecipientRecord[];
  /** Added later, absent in older spool files: RFC 3461 RET and ENVID, the DKIM d=. */
  ret?: "FULL" | "HDRS";
  envid?: string;
  dkim?: string;
}

const MAGIC = "XQ1 ";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The .msg file: header line, envelope JSON, newline, message bytes. */
export function encodeEntry(env: EnvelopeRecord, data: Uint8Array): Uint8Array {
  const json = enc.encode(JSON.stringify(env));
  const head = enc.encode(`${MAGIC}${json.length}\n`);
  const out = new Uint8Array(head.length + json.length + 1 + data.length);
  out.set(head);
  out.set(json, head.length);
  out[head.length + json.length] = 10;
  out.set(data, head.length + json.length + 1);
  return out;
}

/** Splits a .msg file into its envelope text and the message bytes. */
export function decodeEntry(file: Uint8Array): { envText: string; data: Uint8Array } {
  const nl = file.indexOf(10);
  const head = nl > 0 ? dec.decode(file.subarray(0, nl)) : "";
  const m = /^XQ1 (\d{1,9})$/.exec(head);
  if (!m) throw new Error("not a queue file (bad header line)");
  const end = nl + 1 + Number(m[1]);
  if (end >= file.length || file[end] !== 10) throw new Error("queue file is truncated");
  return { envText: dec.decode(file.subarray(nl + 1, end)), data: file.subarray(end + 1) };
}

/**
 * Messages up to this size are read into memory for an attempt; a larger one is sent
 * from its file a chunk at a time (SPEC §7: bounded memory with any queue). The same
 * figure as a message in transfer (src/delivery/incoming.ts MEMORY_LIMIT).
 */
export const READ_WHOLE_LIMIT = 256 * 1024;
/** Header octets a delivery report quotes at most (a longer header is cut). */
const REPORT_HEADER_LIMIT = 1024 * 1024;

/** The envelope stored in a .msg file, reading no more of the file than needed. */
async function readEnvelopeText(path: string): Promise<string> {
  const file = await Deno.open(path, { read: true });
  try {
    return (await readEntryHead(file)).envText;
  } finally {
    file.close();
  }
}

/** The envelope of an open .msg file and where its message starts (the file is read from 0). */
async function readEntryHead(file: Deno.FsFile): Promise<{ envText: string; dataOffset: number }> {
  let buf = new Uint8Array(0);
  for (let want = 65536;; want *= 4) {
    const chunk = new Uint8Array(want - buf.length);
    const n = await file.read(chunk);
    const next = new Uint8Array(buf.length + (n ?? 0));
    next.set(buf);
    next.set(chunk.subarray(0, n ?? 0), buf.length);
    buf = next;
    try {
      const { envText, data } = decodeEntry(buf);
      return { envText, dataOffset: buf.length - data.length };
    } catch (e) {
      if (n === null || !/truncated/.test((e as Error).message)) throw e;
    }
  }
}

export class Spool {
  readonly dir: string;
  #ready: Promise<void> | null = null;

  constructor(dirBase: string) {
    this.dir = join(dirBase, "queue");
  }

  /** Creates the directory durably (once). */
  init(): Promise<void> {
    this.#ready ??= ensureDirDurable(this.dir, 0o700);
    return this.#ready;
  }

  msgPath(id: string): string {
    return join(this.dir, `${id}.msg`);
  }

  envPath(id: string): string {
    return join(this.dir, `${id}.env`);
  }

  /**
   * Writes a new entry: tmp file, fsync, rename, directory sync (shared). Content in
   * pieces (a large message in a spool file) is copied in chunks after the envelope.
   */
  async create(env: EnvelopeRecord, data: Uint8Array | MessageContent): Promise<void> {
    await this.init();
    if (data instanceof Uint8Array) {
      await writeFileAtomic(this.msgPath(env.id), encodeEntry(env, data));
      return;
    }
    const head = encodeEntry(env, new Uint8Array(0));
    await writeFileAtomic(this.msgPath(env.id), new MessageContent([head, ...data.parts]));
  }

  /** Records new state: the .env file replaced atomically (fsync, rename, dir sync). */
  async save(env: EnvelopeRecord): Promise<void> {
    await writeFileAtomic(this.envPath(env.id), JSON.stringify(env));
  }

  async readMessage(id: string): Promise<Uint8Array> {
    return decodeEntry(await Deno.readFile(this.msgPath(id))).data;
  }

  /**
   * The message of an entry for an attempt: in memory up to READ_WHOLE_LIMIT octets, else
   * the range of its file (read a chunk at a time by whoever sends it).
   */
  async content(id: string): Promise<MessageContent> {
    const path = this.msgPath(id);
    const file = await Deno.open(path, { read: true });
    try {
      const { dataOffset } = await readEntryHead(file);
      const length = (await file.stat()).size - dataOffset;
      if (length > READ_WHOLE_LIMIT) {
        return new MessageContent([{ path, offset: dataOffset, length }]);
      }
      await file.seek(dataOffset, Deno.SeekMode.Start);
      const data = new Uint8Array(length);
      for (let at = 0; at < length;) {
        const n = await file.read(data.subarray(at));
        if (n === null) throw new Error(`${path} ended ${length - at} bytes early`);
        at += n;
      }
      return new MessageContent([data]);
    } finally {
      file.close();
    }
  }

  /** The message for a delivery report: whole (RET=FULL) or only its header. */
  async reportCopy(id: string, whole: boolean): Promise<Uint8Array> {
    if (whole) return await this.readMessage(id);
    const file = await Deno.open(this.msgPath(id), { read: true });
    try {
      const { dataOffset } = await readEntryHead(file);
      await file.seek(dataOffset, Deno.SeekMode.Start);
      return (await readHeaderBlock(file, REPORT_HEADER_LIMIT)).bytes;
    } finally {
      file.close();
    }
  }

  /** Removes an entry: the .msg goes first (it is the entry), then the .env; synced. */
  async remove(id: string): Promise<void> {
    await Deno.remove(this.msgPath(id)).catch(ignoreNotFound);
    await Deno.remove(this.envPath(id)).catch(ignoreNotFound);
    await syncDir(this.dir);
  }

  /**
   * Reads every entry and removes debris: temporary files of interrupted writes and
   * .env files whose .msg is gone. `busy` ids (being enqueued now) are left alone. An
   * unreadable entry is never deleted: it is renamed `.corrupt` for the administrator.
   */
  async load(
    busy: (id: string) => boolean,
  ): Promise<{ entries: EnvelopeRecord[]; problems: string[] }> {
    await this.init();
    const names = new Set<string>();
    for await (const e of Deno.readDir(this.dir)) names.add(e.name);
    const entries: EnvelopeRecord[] = [];
    const problems: string[] = [];
    let removed = false;
    const drop = async (name: string, why: string) => {
      await Deno.remove(join(this.dir, name)).catch(ignoreNotFound);
      problems.push(`${name}: ${why}, removed`);
      removed = true;
    };
    for (const name of names) {
      const tmp = /^(.+)\.(?:env|msg)\.tmp-\d+-/.exec(name);
      if (tmp) {
        if (!busy(tmp[1])) await drop(name, "temporary file of an interrupted write");
        continue;
      }
      const m = /^(.+)\.(env|msg)$/.exec(name);
      if (!m || !isQueueId(m[1]) || busy(m[1])) continue;
      const [, id, kind] = m;
      if (kind === "env") {
        if (!names.has(`${id}.msg`)) await drop(name, "envelope without message");
        continue;
      }
      try {
        const text = names.has(`${id}.env`)
          ? await Deno.readTextFile(this.envPath(id))
          : await readEnvelopeText(join(this.dir, name));
        entries.push(parseEnvelope(text, id));
      } catch (e) {
        await Deno.rename(join(this.dir, name), join(this.dir, `${name}.corrupt`)).catch(() => {});
        problems.push(`${name}: unreadable (${(e as Error).message}), renamed to .corrupt`);
      }
    }
    if (removed) await syncDir(this.dir);
    entries.sort((a, b) => a.createdAt - b.createdAt);
    return { entries, problems };
  }
}

function ignoreNotFound(e: unknown): void {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}

const STATES: readonly RecipientState[] = ["pending", "sent", "failed", "reported"];

/** Checks the shape of a stored envelope (a hand-edited or damaged file is refused). */
export function parseEnvelope(text: string, id: string): EnvelopeRecord {
  const v = JSON.parse(text);
  const str = (x: unknown) => typeof x === "string";
  const num = (x: unknown) => typeof x === "number" && Number.isFinite(x);
  if (
    !v || v.v !== 1 || v.id !== id || !str(v.from) || !num(v.createdAt) || !num(v.size) ||
    !num(v.attempts) || !num(v.nextAttempt) || !str(v.lastError) || !Array.isArray(v.rcpts) ||
    !v.rcpts.every((r: RecipientRecord) =>
      r && str(r.addr) && STATES.includes(r.state) && str(r.status) && str(r.diag) && str(r.mta)
    )
  ) {
    throw new Error("envelope fields missing or of the wrong type");
  }
  const optional = (x: unknown) => x === undefined || str(x);
  if (
    !optional(v.envid) || !optional(v.dkim) ||
    (v.ret !== undefined && !["FULL", "HDRS"].includes(v.ret)) ||
    !v.rcpts.every((r: RecipientRecord) =>
      (r.notify === undefined || Array.isArray(r.notify)) &&
      (r.orcpt === undefined || (str(r.orcpt?.type) && str(r.orcpt?.address)))
    )
  ) {
    throw new Error("optional envelope fields of the wrong type");
  }
  return { ...v, smtpUtf8: v.smtpUtf8 === true, eightBit: v.eightBit === true };
}
