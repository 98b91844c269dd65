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
import { decodeKeys, encodeKeys, keysOfMessage, type MessageKeys } from "./message_keys.ts";

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
  /** Keeps keys computed here (`text`: as stored). */
  keep(entry: MessageEntry, keys: MessageKeys, text: string): void;
}

export class KeysFromFiles {
  /**
   * Messages whose keys are being computed: settles when they are known (or could not be:
   * the message is gone). A message is read once, whoever asks.
   */
  #computing = new Map<number, Promise<unknown>>();

  constructor(readonly folder: Folder, readonly owner: KeysOwner) {}

  /** A new UIDVALIDITY: what was being computed is about other messages. */
  forget(): void {
    this.#computing.clear();
  }

  /** The computation under way for message `uid`, if any. */
  pending(uid: number): Promise<unknown> | undefined {
    return this.#computing.get(uid);
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
      const p = this.#computing.get(e.uid);
      if (p) under.add(p);
      else todo.push(e);
    }
    if (todo.length >= WORKER_MIN && acquireKeysReader()) {
      try {
        await this.#fillInWorker(todo);
      } finally {
        releaseKeysReader();
      }
    } else await this.#fillHere(todo, parallel);
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
   * fill() through the reader workers. Every message is registered with its batch before
   * the first batch is sent (a few thousand at a time, yielding between), so a command
   * needing one waits for its batch; files the worker could not read (renamed by a flag
   * change meanwhile) are read here after their batch.
   */
  async #fillInWorker(entries: readonly MessageEntry[]): Promise<void> {
    const batches: MessageEntry[][] = [];
    for (let i = 0; i < entries.length; i += BATCH) batches.push(entries.slice(i, i + BATCH));
    const done = batches.map(() => Promise.withResolvers<void>());
    for (let i = 0; i < batches.length; i++) {
      for (const e of batches[i]) this.#computing.set(e.uid, done[i].promise);
      if (i % 64 === 63) await yieldNow();
    }
    let next = 0;
    const run = async () => {
      while (next < batches.length) {
        const i = next++;
        try {
          if (!this.folder.closed) await this.#readBatch(batches[i]);
        } finally {
          done[i].resolve();
          for (const e of batches[i]) {
            if (this.#computing.get(e.uid) === done[i].promise) this.#computing.delete(e.uid);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: keysReaderSlots() }, run));
  }

  /** One batch in the worker, then what it could not read on the event loop. */
  async #readBatch(batch: MessageEntry[]): Promise<void> {
    const folder = this.folder;
    const results = await readKeys(
      batch.map((e) => ({ path: folder.filePath(e), date: e.internalDate === null })),
      HEADER_CAP,
    );
    const left: MessageEntry[] = [];
    batch.forEach((e, i) => {
      const r = results?.[i];
      const k = r && "text" in r ? decodeKeys(r.text) : null;
      if (!k || !r || !("text" in r)) {
        left.push(e);
        return;
      }
      this.owner.keep(e, k, r.text);
      if (r.mtime !== null && e.internalDate === null) folder.noteInternalDate(e, r.mtime);
    });
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
