/**
 * The delivery journal (`<DirBase>/journal/`): what makes a small delivery durable with
 * one sync shared by every session delivering at that moment (group commit), instead of
 * two syncs in a row (the message file's, then its directory's) per message.
 *
 * A record holds a message's bytes and the paths it is stored under; it is appended with
 * a synchronous write and made durable with fdatasync(2). Concurrent callers share one
 * fdatasync: every caller gets a sync that started after its write, and those who wrote
 * while one was in flight share the next (as fsutil.syncDir does for directories). The
 * store answers once the record is durable; the message file and its directory are
 * fsync'd afterwards, and only then is the record retired (journaled_delivery.ts). Until
 * a record is retired, a crash is repaired at the next start by replaying it
 * (journal_recovery.ts). The order of durability and what each crash leaves is in
 * docs/internals.md, "The durable delivery path".
 *
 * Files: `<seq>.journal` segments, zero-filled to SEGMENT_BYTES when made (so a commit
 * after the first writes data blocks only, no inode) and written until full; a full one
 * is removed once all its records are retired; the one being written is zeroed again
 * once none of its records has been live for IDLE_DROP_MS. Record layout (big-endian):
 * magic u32, payload length u32, CRC-32 of the payload u32, payload = header length
 * u32, header (JSON, UTF-8), message bytes. Zeros after the last record are the end; a
 * record cut short or with a wrong CRC ends its segment as torn (fdatasync flushes every
 * earlier write of the file, so no
 * acknowledged record can follow a torn one).
 */
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { ensureDirDurable, syncDir } from "./fsutil.ts";
import { createJournalFile, type JournalFile } from "./libc_files.ts";
import { SharedSync } from "./shared_sync.ts";

export const RECORD_MAGIC = 0x58444a31; // "XDJ1"
const PREFIX = 12;

/** A segment's zero-filled size; it takes no record past it (and goes once all are retired). */
export const SEGMENT_BYTES = 1 << 20;

/** A segment's buffer of records waiting for their write: 16 messages of 4 KiB... */
const STAGING_BYTES = 80 * 1024;
/** ...and the most it keeps after a group of larger ones. */
const STAGING_KEEP = 1 << 20;

/** How long the segment being written keeps retired records before they are zeroed. */
export const IDLE_DROP_MS = 1000;

/** The journal's directory under DirBase. */
export function journalDir(dirBase: string): string {
  return join(dirBase, "journal");
}

/** Where a journaled message is: its file in tmp/ and the names it gets (each in a new/). */
export interface JournalHeader {
  src: string;
  dests: string[];
}

export interface JournalRecord {
  header: JournalHeader;
  data: Uint8Array;
}

/** One appended record: `committed` resolves once it is durable; retire() it when done. */
export interface JournalTicket {
  committed: Promise<void>;
  segment: Segment;
}

/** Encodes one record (tests write torn ones with it too). */
export function encodeRecord(header: JournalHeader, data: Uint8Array): Uint8Array {
  const head = encodeHeader(header);
  const out = new Uint8Array(recordLength(head, data));
  writeRecord(out, 0, head, data);
  return out;
}

const encoder = new TextEncoder();

function encodeHeader(header: JournalHeader): Uint8Array {
  return encoder.encode(JSON.stringify(header));
}

function recordLength(head: Uint8Array, data: Uint8Array): number {
  return PREFIX + 4 + head.length + data.length;
}

/** Writes the record of `head` (encoded header) and `data` into `out` at `at`. */
function writeRecord(out: Uint8Array, at: number, head: Uint8Array, data: Uint8Array): void {
  const payloadLength = 4 + head.length + data.length;
  const view = new DataView(out.buffer, out.byteOffset + at, PREFIX + 4);
  view.setUint32(PREFIX, head.length);
  out.set(head, at + PREFIX + 4);
  out.set(data, at + PREFIX + 4 + head.length);
  view.setUint32(0, RECORD_MAGIC);
  view.setUint32(4, payloadLength);
  view.setUint32(8, crc32(out.subarray(at + PREFIX, at + PREFIX + payloadLength)));
}

/**
 * The whole records at the start of a segment's bytes, in order; parsing stops at the
 * first one that is cut short, has another magic or a CRC that does not match (torn).
 */
export function decodeRecords(bytes: Uint8Array): { records: JournalRecord[]; torn: boolean } {
  const records: JournalRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < PREFIX || view.getUint32(at) !== RECORD_MAGIC) break;
    const length = view.getUint32(at + 4);
    const end = at + PREFIX + length;
    if (length < 4 || end > bytes.length) break;
    const payload = bytes.subarray(at + PREFIX, end);
    if (crc32(payload) !== view.getUint32(at + 8)) break;
    const headLength = view.getUint32(at + PREFIX);
    if (4 + headLength > length) break;
    let header: JournalHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + headLength)));
    } catch {
      break;
    }
    if (typeof header?.src !== "string" || !Array.isArray(header.dests)) break;
    records.push({ header, data: payload.subarray(4 + headLength) });
    at = end;
  }
  // A segment is zero-filled ahead of its records: zeros after the last record are its end.
  return { records, torn: !bytes.subarray(at).every((b) => b === 0) };
}

/** One journal file: its descriptor, its records not yet retired, its group commit. */
export class Segment {
  bytes = 0;
  live = 0;
  /** No more appends: full, or a write or sync failed (what follows could be torn). */
  sealed = false;
  /** Its name and its zero-filled length are durable: a commit is then one fdatasync. */
  #settled = false;
  /**
   * Its group commit: records written while one sync runs share the next, and records of
   * one turn of the event loop share its first (atTurnEnd: docs/performance.md, "SMTP one
   * message per connection").
   */
  readonly #commits = new SharedSync(() => this.#syncNow(), { atTurnEnd: true });
  /** The error of a write or sync that failed: every later commit fails with it. */
  #failed: unknown = null;
  /**
   * Records not written yet (appended while a sync ran), encoded one after the other in a
   * buffer kept from group to group: the next sync writes them with one write(2). Each
   * record's bytes are copied once, here (no record of its own, no joining of a group).
   */
  #staged = new Uint8Array(STAGING_BYTES);
  #stagedLength = 0;

  constructor(readonly path: string, readonly file: JournalFile, readonly dir: string) {}

  /**
   * Queues the record of `head` (its encoded header) and `data`, already counted in
   * `bytes`, and returns a sync that covers it. With no sync running it is written and
   * synced at the end of this turn of the event loop, with the records of the turn;
   * during one, it waits with the others that come meanwhile, and the
   * next sync writes them all in one write(2) before its fdatasync (a system call per
   * group of deliveries, not per message).
   */
  add(head: Uint8Array, data: Uint8Array): Promise<void> {
    const length = recordLength(head, data);
    const need = this.#stagedLength + length;
    if (need > this.#staged.length) {
      const bigger = new Uint8Array(Math.max(need, this.#staged.length * 2));
      bigger.set(this.#staged.subarray(0, this.#stagedLength));
      this.#staged = bigger;
    }
    writeRecord(this.#staged, this.#stagedLength, head, data);
    this.#stagedLength = need;
    return this.commit();
  }

  /** A sync that starts after this call; callers during a running one share the next. */
  commit(): Promise<void> {
    return this.#commits.request();
  }

  async #syncNow(): Promise<void> {
    // After a failed write or sync nothing here is trusted: a record written after a
    // partial one could not be read back, a sync after a failed one may hide the loss.
    if (this.#failed) throw this.#failed;
    try {
      this.#writeQueued();
      if (this.#settled) {
        // Records overwrite zeros within the file's length: fdatasync writes only their
        // blocks (no inode), about half the latency of an append's here.
        await this.file.syncData();
      } else {
        // The first commit makes the segment's name and length durable with its records.
        await Promise.all([this.file.sync(), syncDir(this.dir)]);
        this.#settled = true;
      }
    } catch (e) {
      // After a failed fdatasync the file's state is unknown: nothing more goes into it.
      this.sealed = true;
      this.#failed = e;
      throw e;
    }
  }

  #writeQueued(): void {
    if (this.#stagedLength === 0) return;
    const length = this.#stagedLength;
    this.#stagedLength = 0;
    this.file.writeAll(this.#staged.subarray(0, length));
    // A group of large records made it grow: back to the usual size.
    if (this.#staged.length > STAGING_KEEP) this.#staged = new Uint8Array(STAGING_BYTES);
  }

  /** Resolves when no sync is running or waiting (the descriptor may be closed). */
  async idle(): Promise<void> {
    await this.#commits.settled();
  }

  /**
   * Zeroes the records written (all retired) and makes that durable, so the segment can
   * be written again from its start and a crash replays nothing that is done.
   */
  async recycle(): Promise<void> {
    await this.idle();
    this.file.rewind();
    this.file.writeAll(new Uint8Array(this.bytes));
    this.file.rewind();
    await this.file.syncData();
    this.bytes = 0;
  }
}

export class DeliveryJournal {
  readonly dir: string;
  #current: Segment | null = null;
  #segments = new Set<Segment>();
  #seq = 0;
  #closed = false;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #recycling: Promise<void> | null = null;

  private constructor(dir: string, seq: number) {
    this.dir = dir;
    this.#seq = seq;
  }

  /**
   * Opens `<dirBase>/journal` for appending. Segments already there belong to an earlier
   * process: replay them first (journal_recovery.ts); new ones are numbered after them.
   */
  static async open(dirBase: string): Promise<DeliveryJournal> {
    const dir = journalDir(dirBase);
    await ensureDirDurable(dir, 0o700);
    let seq = 0;
    for await (const e of Deno.readDir(dir)) {
      const n = parseInt(e.name, 10);
      if (e.name.endsWith(".journal") && n > seq) seq = n;
    }
    return new DeliveryJournal(dir, seq);
  }

  /** Records appended and not retired yet. */
  get live(): number {
    let n = 0;
    for (const s of this.#segments) n += s.live;
    return n;
  }

  /** Resolves once a zeroing of an idle segment under way (and its sync) is done (tests). */
  async recycled(): Promise<void> {
    await this.#recycling;
  }

  /** Segment files present (tests). */
  get segments(): number {
    return this.#segments.size;
  }

  /**
   * Appends a record and returns its ticket: written at once when no sync runs, else
   * with the others of its group when the next sync starts (Segment.add). A write or
   * sync that fails rejects `committed` and seals the segment, since what follows a
   * partial write could not be read back.
   */
  append(header: JournalHeader, data: Uint8Array): JournalTicket {
    if (this.#closed) throw new Error("delivery journal closed");
    const head = encodeHeader(header);
    const segment = this.#writable();
    segment.bytes += recordLength(head, data);
    segment.live++;
    if (segment.bytes >= SEGMENT_BYTES) segment.sealed = true;
    return { committed: segment.add(head, data), segment };
  }

  /** The record's message is durable where it belongs: its record is no longer needed. */
  retire(ticket: JournalTicket): void {
    const segment = ticket.segment;
    if (--segment.live === 0 && !segment.sealed) this.#dropWhenIdle(segment);
    this.#dropIfDone(segment);
  }

  /**
   * The segment being written is emptied (its records zeroed, synced) once nothing in it
   * has been live for IDLE_DROP_MS, so that a crash long after replays nothing (a message
   * expunged meanwhile would come back). Not at once: under a steady trickle every
   * delivery would pay that write and sync.
   */
  #dropWhenIdle(segment: Segment): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    const timer = setTimeout(() => {
      this.#idleTimer = null;
      if (segment.live > 0 || segment.sealed) return;
      this.#recycling = this.#recycle(segment).finally(() => this.#recycling = null);
    }, IDLE_DROP_MS);
    Deno.unrefTimer(timer);
    this.#idleTimer = timer;
  }

  async #recycle(segment: Segment): Promise<void> {
    // No appends while it is zeroed; one arriving meanwhile starts another segment.
    segment.sealed = true;
    if (this.#current === segment) this.#current = null;
    try {
      await segment.recycle();
      if (this.#current === null && !this.#closed) {
        segment.sealed = false;
        this.#current = segment;
        return;
      }
    } catch { /* removed below instead */ }
    await this.#dropIfDone(segment);
  }

  /**
   * Stops appending: segments whose records are all retired are removed, the others
   * closed and left for the next start to replay.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    await this.#recycling;
    const all = [...this.#segments];
    for (const s of all) s.sealed = true;
    await Promise.all(all.map((s) => this.#dropIfDone(s)));
    for (const s of this.#segments) {
      await s.idle();
      s.file.close();
    }
    this.#segments.clear();
    this.#current = null;
  }

  #writable(): Segment {
    if (this.#current && !this.#current.sealed) return this.#current;
    const path = join(this.dir, `${String(++this.#seq).padStart(10, "0")}.journal`);
    // Through libc where it can (libc_files.ts: no duplicated descriptor per fdatasync).
    const file = createJournalFile(path);
    try {
      // Zero-filled ahead (page cache; made durable by its first commit's fsync), so that
      // later commits change no file size.
      file.writeAll(new Uint8Array(SEGMENT_BYTES));
      file.rewind();
    } catch (e) {
      file.close();
      Deno.removeSync(path);
      throw e;
    }
    const segment = new Segment(path, file, this.dir);
    this.#segments.add(segment);
    this.#current = segment;
    return segment;
  }

  /**
   * Removes a sealed segment without live records. Its removal is synced in the
   * background so a crash does not bring back records already done (replaying them is
   * harmless, only slower, but a message expunged since would come back).
   */
  async #dropIfDone(segment: Segment): Promise<void> {
    if (!segment.sealed || segment.live > 0 || !this.#segments.has(segment)) return;
    this.#segments.delete(segment);
    if (this.#current === segment) this.#current = null;
    await segment.idle();
    segment.file.close();
    try {
      Deno.removeSync(segment.path);
      await syncDir(this.dir);
    } catch { /* left for the next start's replay, which finds its messages in place */ }
  }
}
