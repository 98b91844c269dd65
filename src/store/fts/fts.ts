/**
 * The full-text index of IMAP SEARCH BODY and TEXT (docs/imap.md "Full-text index"): per
 * folder an FTS5 trigram index on disk (db.ts) of each message's searchable text
 * (columns.ts), kept by one worker thread (worker.ts), so a search over 100,000 messages
 * reads the index instead of every file.
 *
 * When it is built: a folder gets its index on its first BODY/TEXT search (as Dovecot's
 * fts plugin without autoindex); that search scans as before while the index is filled
 * in the background. From then on every search, and every change the store reports
 * (MailStore.notify: deliveries, APPEND, COPY/MOVE, expunges of this process), catches it
 * up: messages not in it are indexed, expunged ones removed. Changes by other programs
 * are caught up at the next search.
 *
 * Answers never depend on the index being complete: a search takes from the index only
 * the messages it held when the query ran (`TextAnswer.covers`) and scans the others,
 * exactly as without an index; UIDs it holds that the folder no longer has are ignored.
 */
import type { Folder } from "../folder/folder.ts";
export { TextAnswer } from "./answer.ts";
import { lowerBound } from "../folder/table_positions.ts";
import { ftsQuery } from "./columns.ts";
import { Coverage } from "./coverage.ts";
import { TextAnswer } from "./answer.ts";
import { FTS_FILE, type IndexItem, type IndexOutcome } from "./db.ts";
import { type FtsReply, FtsWorker } from "./worker_client.ts";
import { log } from "../../log.ts";
import { join } from "node:path";

/** The file that answered is not the one this process read (made again, or replaced). */
class IndexReplaced extends Error {}

type FolderRequest =
  | { op: "remove"; uids: number[] }
  | { op: "index"; items: IndexItem[] }
  | { op: "query"; match: string };

/** One indexing request: at most this many messages, or about this many octets. */
const BATCH_MESSAGES = 128;
const BATCH_BYTES = 2 << 20;
/** A change is caught up after this pause, so a burst of deliveries is one catch-up. */
const SETTLE_MS = 500;
/** A catch-up that indexed this many messages or more is logged. */
const LOG_ABOVE = 1000;
/** Answers kept per folder (each at most 4 bytes per message). */
const KEPT_ANSWERS = 8;
/** How often states of folders the store dropped are forgotten. */
const SWEEP_MS = 60_000;

/** What this process knows of one folder's index file. */
class FolderFts {
  /** Indexed UIDs with the reply number of the batch that indexed them. */
  readonly indexed = new Coverage();
  /** UIDs left to scanning (too large). */
  readonly skipped = new Set<number>();
  /**
   * The last answers by FTS5 expression, least recently used first. An answer is reused
   * while no batch was indexed after its query: it would be the same (messages it did not
   * see are scanned all the same, and expunged UIDs in it are never asked for). A client
   * repeating a search, or a SEARCH context (RFC 5267) re-evaluated, costs no query then.
   */
  readonly answers = new Map<string, TextAnswer>();
  /** Reply number of the last batch that indexed messages. */
  indexedAt = 0;
  /** The index's list of UIDs, read once. */
  loaded: Promise<boolean> | null = null;
  #current: Promise<void> | null = null;
  #again = false;
  /** An indexing batch of the running catch-up is in the worker's queue. */
  #batchQueued = false;
  /** Lookups waiting for the catch-up to queue its next batch (or finish). */
  #waitingForBatch: (() => void)[] = [];
  /** The index file instance (db.ts) that `indexed` and `skipped` describe. */
  instance = "";
  /**
   * The folder's expunge generation and next UID when a pass began that then missed
   * nothing: the next pass need only look at UIDs from there (when nothing left since).
   */
  #base: { expunges: number; next: number } | null = null;
  /** #mark() of the folder when a pass last completed with nothing missed. */
  #synced = "";
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly owner: FullTextIndex,
    public folder: Folder,
    readonly uidValidity: number,
  ) {}

  /** Follows the folder object in use now (its counters start again). */
  use(folder: Folder): void {
    this.folder = folder;
    this.#synced = "";
    this.#base = null;
  }

  get file(): string {
    return join(this.folder.path, FTS_FILE);
  }

  load(): Promise<boolean> {
    return this.loaded ??= this.owner.worker.call({
      op: "docs",
      path: this.file,
      uidValidity: this.uidValidity,
    }).then(({ result, seq, instance }) => {
      const docs = result as { indexed: Uint32Array; skipped: number[] };
      this.indexed.add(docs.indexed, seq);
      for (const uid of docs.skipped) this.skipped.add(uid);
      this.instance = instance ?? "";
      return true;
    }, (e) => {
      this.owner.failed(this, e);
      return false;
    });
  }

  /**
   * A request about this folder's index; throws IndexReplaced when another file answered
   * than the one `indexed` describes (then this state is dropped and read again).
   */
  async call(body: FolderRequest): Promise<FtsReply> {
    const reply = await this.owner.worker.call(
      {
        ...body,
        path: this.file,
        uidValidity: this.uidValidity,
      } as Parameters<FtsWorker["call"]>[0],
    );
    if (reply.instance !== this.instance) throw new IndexReplaced();
    return reply;
  }

  /** Catches up soon (after SETTLE_MS of quiet). */
  schedule(): void {
    clearTimeout(this.#timer);
    const t = this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.catchUp();
    }, SETTLE_MS);
    Deno.unrefTimer(t);
  }

  /**
   * Indexes what the folder has and the index lacks; forgets what the folder lost. A call
   * during a run asks that run for one more pass and returns it.
   */
  catchUp(): Promise<void> {
    if (this.#current) {
      this.#again = true;
      return this.#current;
    }
    // Nothing changed since the last complete pass: no need to compare 100,000 UIDs again.
    if (this.#synced === this.#mark()) return Promise.resolve();
    return this.#current = this.#run().finally(() => {
      this.#current = null;
      this.#releaseLookups();
    });
  }

  /**
   * Resolves once the running catch-up has its next indexing batch in the worker's queue,
   * or has none to send: a query sent then is served after that batch and covers it. The
   * first BODY search of a folder queried an empty index and scanned every message on
   * the event loop while the worker indexed the same messages (bench hostile's
   * search-html: 20 messages of 150 KB); now it scans only what the first batch (128
   * messages or 2 MiB) left. It waits for that batch at most, as every later query may.
   */
  batchQueued(): Promise<void> {
    if (!this.#current || this.#batchQueued) return Promise.resolve();
    return new Promise((resolve) => this.#waitingForBatch.push(resolve));
  }

  /** A batch is in the worker's queue: a query sent now sees more than the last one. */
  get indexing(): boolean {
    return this.#batchQueued;
  }

  #releaseLookups(): void {
    for (const resolve of this.#waitingForBatch.splice(0)) resolve();
  }

  /** No catch-up runs or waits. */
  get idle(): boolean {
    return this.#current === null && this.#timer === undefined;
  }

  /** What the folder looked like: a pass that saw the same saw everything. */
  #mark(): string {
    const f = this.folder;
    return `${f.version} ${f.expungeGeneration} ${f.uidSnapshot().count} ${f.uidNext}`;
  }

  async #run(): Promise<void> {
    try {
      if (!await this.load()) return;
      const before = { ...this.owner.stats }, started = performance.now();
      // Files renamed meanwhile (flags) are missed once and taken in the next pass.
      for (let pass = 0; pass < 3; pass++) {
        this.#again = false;
        if (this.folder.closed || this.owner.closing) return;
        const seen = this.#mark();
        const missed = await this.#round();
        if (!missed && !this.#again) {
          this.#synced = seen;
          break;
        }
      }
      const n = this.owner.stats.messages - before.messages;
      if (n >= LOG_ABOVE) {
        const mb = (this.owner.stats.bytes - before.bytes) / 1048576;
        const ms = Math.round(performance.now() - started);
        log("imap").info(
          `full-text index of ${this.folder.path}: ${n} messages (${mb.toFixed(1)} MiB) ` +
            `indexed in ${ms} ms`,
        );
      }
    } catch (e) {
      this.owner.failed(this, e);
    }
  }

  /**
   * One pass; true when something was missed and another pass may help. Compares UID
   * lists only: entries are read (after a restart, loaded from the folder index) only for
   * messages to index.
   */
  async #round(): Promise<boolean> {
    const f = this.folder, base = this.#base;
    // After a complete pass with no expunge since, only UIDs given out since are new.
    const onlyNew = base !== null && base.expunges === f.expungeGeneration;
    this.#base = null;
    const start = { expunges: f.expungeGeneration, next: f.uidNext };
    const snap = f.uidSnapshot();
    const uids = snap.uids.subarray(0, snap.count);
    // (Not spread into another array: 100,000 arguments overflow V8's stack.)
    const gone = onlyNew ? [] : this.indexed.notIn(uids);
    if (!onlyNew) { for (const uid of this.skipped) if (!holds(uids, uid)) gone.push(uid); }
    if (gone.length) {
      await this.call({ op: "remove", uids: gone });
      this.indexed.delete(gone);
      for (const uid of gone) this.skipped.delete(uid);
    }
    const from = onlyNew ? lowerBound(uids, uids.length, base.next) : 0;
    const todo = this.indexed.missingFrom(uids, from, this.skipped);
    let missed = false;
    for (let i = 0; i < todo.length;) {
      if (this.folder.closed || this.owner.closing) return false;
      const items: IndexItem[] = [];
      let bytes = 0;
      for (; i < todo.length && items.length < BATCH_MESSAGES && bytes < BATCH_BYTES; i++) {
        const entry = this.folder.messages.get(todo[i]);
        if (!entry) continue;
        items.push({ uid: entry.uid, path: this.folder.filePath(entry) });
        bytes += entry.size;
      }
      if (!items.length) continue;
      const started = performance.now();
      const reply = this.call({ op: "index", items }); // in the worker's queue now
      this.#batchQueued = true;
      this.#releaseLookups();
      const { result, seq } = await reply.finally(() => this.#batchQueued = false);
      const out = result as IndexOutcome;
      this.indexed.add(out.indexed, seq);
      if (out.indexed.length) this.indexedAt = seq;
      for (const uid of out.skipped) this.skipped.add(uid);
      if (out.missing.some((uid) => this.folder.messages.has(uid))) missed = true;
      this.owner.indexed(out, performance.now() - started);
    }
    if (!missed) this.#base = start;
    return missed;
  }
}

function holds(xs: Uint32Array, uid: number): boolean {
  const k = lowerBound(xs, xs.length, uid);
  return k < xs.length && xs[k] === uid;
}

/** Indexing totals since start (the benchmark reports throughput from them). */
export interface FtsStats {
  messages: number;
  bytes: number;
  ms: number;
}

export class FullTextIndex {
  readonly worker = new FtsWorker();
  readonly #folders = new Map<string, FolderFts>();
  readonly stats: FtsStats = { messages: 0, bytes: 0, ms: 0 };
  closing = false;
  #warned = false;
  #swept = 0;

  /**
   * The index's answer to SEARCH BODY/TEXT of a folded `needle` in `folder`, or null when
   * it cannot give one (a needle under 3 characters, a TEXT needle longer than the seam,
   * no worker): the caller scans. Starts or continues the folder's catch-up.
   */
  async lookup(folder: Folder, which: "BODY" | "TEXT", needle: string): Promise<TextAnswer | null> {
    const q = ftsQuery(which, needle);
    if (!q || this.closing || !this.worker.available) return null;
    const st = this.#stateOf(folder);
    if (!await st.load()) return null;
    void st.catchUp();
    await st.batchQueued();
    const known = st.answers.get(q.match);
    st.answers.delete(q.match);
    if (known && known.seq > st.indexedAt && !st.indexing) {
      st.answers.set(q.match, known);
      return known;
    }
    try {
      const { result, seq } = await st.call({ op: "query", match: q.match });
      const answer = new TextAnswer(result as Uint32Array, q.exact, st.indexed, seq);
      st.answers.set(q.match, answer);
      if (st.answers.size > KEPT_ANSWERS) st.answers.delete(st.answers.keys().next().value!);
      return answer;
    } catch (e) {
      this.failed(st, e);
      return null;
    }
  }

  /** The store changed a folder (MailStore.notify): catch its index up, if it has one. */
  changed(folderPath: string): void {
    this.#folders.get(folderPath)?.schedule();
  }

  #stateOf(folder: Folder): FolderFts {
    this.#sweep();
    let st = this.#folders.get(folder.path);
    // Another UIDVALIDITY: the worker makes the file again for it (db.ts).
    if (!st || st.uidValidity !== folder.uidValidity) {
      st = new FolderFts(this, folder, folder.uidValidity);
      this.#folders.set(folder.path, st);
    }
    if (st.folder !== folder) st.use(folder); // an older one may have been dropped
    return st;
  }

  /**
   * Forgets folders the store has dropped (at most once a minute), so the UID lists held
   * here follow the open folders, not every folder ever searched.
   */
  #sweep(): void {
    const now = Date.now();
    if (now - this.#swept < SWEEP_MS) return;
    this.#swept = now;
    for (const [path, st] of this.#folders) {
      if (st.folder.closed && st.idle) this.#folders.delete(path);
    }
  }

  indexed(out: IndexOutcome, ms: number): void {
    this.stats.messages += out.indexed.length;
    this.stats.bytes += out.bytes;
    this.stats.ms += ms;
  }

  /** A request about a folder failed: its state is dropped (the next search starts again). */
  failed(st: FolderFts, e: unknown): void {
    if (this.#folders.get(st.folder.path) === st) this.#folders.delete(st.folder.path);
    if (this.closing || e instanceof IndexReplaced || this.#warned) return;
    this.#warned = true;
    log("imap").warn(
      `full-text index of ${st.folder.path}: ${(e as Error)?.message ?? e}; SEARCH scans meanwhile`,
    );
  }

  /**
   * Starts the worker now (daemon start): its start blocks the event loop for tens of
   * milliseconds, which would otherwise stall every session at the first SEARCH BODY.
   */
  prestart(): void {
    if (!this.closing) this.worker.prestart();
  }

  /** Waits for the folder's catch-up to finish (tests, benchmarks). */
  async settle(folder: Folder): Promise<void> {
    const st = this.#stateOf(folder);
    await st.catchUp();
    await st.catchUp(); // a pass that began before the caller's changes
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.close();
  }
}
