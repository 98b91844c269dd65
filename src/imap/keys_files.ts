/**
 * The keys of a folder's messages read from their files (sort_index.ts FolderKeys keeps
 * them): the header block of each (small files whole, with the EMAILID), on the event
 * loop a few at a time or, for many, by the reader workers (keys_reader.ts) in batches.
 * Each message's computation is registered while it runs, so a file is read once,
 * whoever asks; a warm-up registers every message with its batch before the first is
 * sent, and a command needing one of them waits for that batch.
 */
import { nextTurn, turnSpent } from "../net/turns.ts";
import { acquireKeysReader, keysReaderSlots, readKeys, releaseKeysReader } from "./keys_reader.ts";
import { toCrlf } from "../message/line_endings.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { yieldToEventLoop } from "../store/fsutil.ts";
import { lowerBound } from "../store/folder/table_positions.ts";
import { encodeKeys, KEYS_PREFIX, keysOfMessage, type MessageKeys } from "./message_keys.ts";

/** Files read at the same time on the event loop in the background. */
export const PARALLEL_BACKGROUND = 8;
/** From this many files on, the reader workers read them, BATCH per request. */
const WORKER_MIN = 200;
const BATCH = 64;
/** On the event loop, files up to this size are read whole (one operation, and the EMAILID). */
const WHOLE_UP_TO = 32 << 10;
/** The longest header block read for keys. */
const HEADER_CAP = 64 << 10;

const yieldNow = yieldToEventLoop;

/** What the reading uses of the folder's keys (FolderKeys). */
export interface KeysOwner {
  /** The keys of a message if known, without reading its file. */
  peek(entry: MessageEntry): MessageKeys | undefined;
  /** The keys of a message, from wherever they are (read() last). */
  get(entry: MessageEntry): Promise<MessageKeys>;
  /** Keeps keys computed here (`text`: as stored; `keys` null: decode `text` if needed). */
  keep(entry: MessageEntry, keys: MessageKeys | null, text: string): void;
}

export class KeysFromFiles {
  /**
   * Messages whose keys are being computed: settles when they are known (or could not be:
   * the message is gone). A message is read once, whoever asks.
   */
  #computing = new Map<number, Promise<unknown>>();
  /**
   * The same for the runs through the reader workers, by batch: a map entry per message
   * of a 100,000-message warm-up was old-space garbage once it ended.
   */
  readonly #runs = new Set<BatchRun>();

  constructor(readonly folder: Folder, readonly owner: KeysOwner) {}

  /** A new UIDVALIDITY: what was being computed is about other messages. */
  forget(): void {
    this.#computing.clear();
    this.#runs.clear();
  }

  /** The computation under way for message `uid`, if any. */
  pending(uid: number): Promise<unknown> | undefined {
    const p = this.#computing.get(uid);
    if (p !== undefined || this.#runs.size === 0) return p;
    for (const run of this.#runs) {
      const waiting = run.pending(uid);
      if (waiting) return waiting;
    }
    return undefined;
  }

  /** Reads a message's keys from its file (registered while it runs) and keeps them. */
  read(entry: MessageEntry): Promise<MessageKeys> {
    return this.#track(entry.uid, this.#compute(entry));
  }

  /** Registers a message's computation (others asking wait for it); forgets it when done. */
  #track<T>(uid: number, work: Promise<T>): Promise<T> {
    const tracked: Promise<T> = work.finally(() => {
      if (this.#computing.get(uid) === tracked) this.#computing.delete(uid);
    });
    tracked.catch(() => {}); // a failure is the waiters' to handle, not unhandled
    this.#computing.set(uid, tracked);
    return tracked;
  }

  /** Reads a message's keys from its file, untracked (see read()). */
  async #compute(entry: MessageEntry): Promise<MessageKeys> {
    const { bytes, whole } = await this.folder.readHeader(entry, WHOLE_UP_TO, HEADER_CAP);
    // SPEC §7: up to 16 reads end in one turn (fill's `parallel`), and a 64 KiB header
    // block takes 1-2 ms to read for keys: each takes its share of the turn's budget
    // (bench hostile's search-html after quadratic-headers: 23-33 ms in one piece).
    if (turnSpent()) await nextTurn();
    // The EMAILID is a digest of the message as served (CRLF line endings).
    const keys = keysOfMessage(whole ? toCrlf(bytes) : bytes, whole);
    this.owner.keep(entry, keys, encodeKeys(keys));
    return keys;
  }

  /**
   * Computes the keys of the entries not known yet and waits for those being computed.
   * A message expunged meanwhile is left without.
   */
  async fill(entries: readonly MessageEntry[], parallel: number): Promise<void> {
    const todo: MessageEntry[] = [];
    const under = new Set<Promise<unknown>>();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (i % 5000 === 4999) await yieldNow();
      if (this.owner.peek(e)) continue;
      const p = this.pending(e.uid);
      if (p) under.add(p);
      else todo.push(e);
    }
    if (todo.length >= WORKER_MIN && acquireKeysReader()) {
      const uids = Uint32Array.from(todo, (e) => e.uid).sort();
      todo.length = 0;
      try {
        await this.#fillInWorker(uids);
      } finally {
        releaseKeysReader();
      }
    } else await this.#fillHere(todo, parallel);
    await Promise.allSettled(under);
  }

  /**
   * fill() for the messages of `uids` (ascending; a warm-up's, from the index): no entry
   * is made for them all at once, only a batch's at a time (an entry per message held for
   * the whole fill was 15 MB of old-space garbage on 100,000 messages, docs/performance.md).
   */
  async fillUids(uids: Uint32Array, parallel: number): Promise<void> {
    const todo = new Uint32Array(uids.length);
    const under = new Set<Promise<unknown>>();
    let n = 0;
    for (let i = 0; i < uids.length; i++) {
      if (i % 5000 === 4999) await yieldNow();
      const p = this.pending(uids[i]);
      if (p) under.add(p);
      else todo[n++] = uids[i];
    }
    if (n >= WORKER_MIN && acquireKeysReader()) {
      try {
        await this.#fillInWorker(todo.subarray(0, n));
      } finally {
        releaseKeysReader();
      }
    } else {
      const entries: MessageEntry[] = [];
      for (let i = 0; i < n; i++) {
        const e = this.folder.messages.get(todo[i]);
        if (e) entries.push(e);
      }
      await this.#fillHere(entries, parallel);
    }
    await Promise.allSettled(under);
  }

  /** fill() on the event loop, `parallel` files at a time. */
  async #fillHere(entries: readonly MessageEntry[], parallel: number): Promise<void> {
    let next = 0;
    const run = async () => {
      while (next < entries.length && !this.folder.closed) {
        const e = entries[next++];
        if (this.owner.peek(e)) continue;
        try {
          await this.owner.get(e);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err; // expunged meanwhile
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, run));
  }

  /**
   * fill() through the reader workers, for `uids` (ascending, none being computed). The
   * whole run is registered before the first batch is sent (pending() finds a UID's
   * batch by binary search), so a command needing one waits for its batch; each batch's
   * entries are made when it is sent and die with it; files the worker could not read
   * (renamed by a flag change meanwhile) are read here after their batch.
   */
  async #fillInWorker(uids: Uint32Array): Promise<void> {
    const run = new BatchRun(uids);
    this.#runs.add(run);
    const messages = this.folder.messages;
    let next = 0;
    const slot = async () => {
      while (next < run.batches) {
        const b = next++;
        try {
          if (this.folder.closed) continue;
          const batch: MessageEntry[] = [];
          for (let i = b * BATCH, end = Math.min(uids.length, i + BATCH); i < end; i++) {
            const e = messages.get(uids[i]);
            if (e && !this.owner.peek(e)) batch.push(e); // else expunged or known meanwhile
          }
          if (batch.length) await this.#readBatch(batch);
        } finally {
          run.settle(b);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: keysReaderSlots() }, slot));
    } finally {
      // Also after a failure: whoever still waits reads the file itself.
      this.#runs.delete(run);
      run.settleAll();
    }
  }

  /** One batch in the worker, then what it could not read on the event loop. */
  async #readBatch(batch: MessageEntry[]): Promise<void> {
    const folder = this.folder;
    const results = await readKeys(
      batch.map((e) => ({ path: folder.filePath(e), date: e.internalDate === null })),
      HEADER_CAP,
    );
    const left: MessageEntry[] = [];
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i], r = results?.[i];
      // The worker's texts are encodeKeys' (keys_worker.ts): decoded by the owner only
      // if it keeps keys objects (a keys object per message was garbage otherwise).
      if (!r || !("text" in r) || !r.text.startsWith(KEYS_PREFIX)) {
        left.push(e);
        continue;
      }
      this.owner.keep(e, null, r.text);
      if (r.mtime !== null && e.internalDate === null) folder.noteInternalDate(e, r.mtime);
    }
    folder.writeKeys(); // in this turn: what was kept dies young (IndexLink.writeKeys)
    // Directly, not through #computing: those registrations wait for this batch.
    let next = 0;
    const run = async () => {
      while (next < left.length) {
        const e = left[next++];
        if (!folder.holds(e)) continue; // expunged meanwhile
        try {
          await this.#compute(e);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_BACKGROUND }, run));
  }
}

/**
 * The messages of one run through the reader workers (#fillInWorker): their UIDs in order,
 * BATCH per batch, and which batches are done. A waiter's promise is made only for a
 * batch someone waits for.
 */
class BatchRun {
  readonly batches: number;
  readonly #done: Uint8Array;
  readonly #waiters = new Map<number, PromiseWithResolvers<void>>();

  constructor(readonly uids: Uint32Array) {
    this.batches = Math.ceil(uids.length / BATCH);
    this.#done = new Uint8Array(this.batches);
  }

  /** Settles when the batch holding `uid` is done; undefined if none of this run holds it. */
  pending(uid: number): Promise<void> | undefined {
    const at = lowerBound(this.uids, this.uids.length, uid);
    if (at === this.uids.length || this.uids[at] !== uid) return undefined;
    const b = (at / BATCH) | 0;
    if (this.#done[b]) return undefined;
    let w = this.#waiters.get(b);
    if (!w) this.#waiters.set(b, w = Promise.withResolvers<void>());
    return w.promise;
  }

  settle(b: number): void {
    this.#done[b] = 1;
    this.#waiters.get(b)?.resolve();
    this.#waiters.delete(b);
  }

  settleAll(): void {
    this.#done.fill(1);
    for (const w of this.#waiters.values()) w.resolve();
    this.#waiters.clear();
  }
}
