/**
 * One session's view of its selected mailbox (RFC 3501 §2.3.1.2, §7): its own
 * sequence numbers, what it has been told, and which messages are \Recent for it.
 * The shared Folder changes under it (other sessions, SMTP deliveries); `sync` turns
 * the difference into untagged EXISTS / EXPUNGE (or VANISHED) / FETCH at the moments
 * the RFC allows, so each session's numbering stays consistent.
 *
 * The view is small whatever the mailbox size: its sequence numbers are a prefix of
 * one of the folder's UID snapshots (a shared Uint32Array that is never changed below
 * its count), and what it was told about flags is one mod-sequence (RFC 7162): the
 * folder's HIGHESTMODSEQ at its last sync. Flag changes since then are found in the
 * folder's recent-change log, expunges by comparing with the folder's current UIDs.
 */
import type {
  EntriesByUid,
  FlagIds,
  Folder,
  MessageEntry,
  RunList,
} from "../store/folder/folder.ts";
import type { MailStore } from "../store/mailstore.ts";
import { lowerBound } from "../store/folder/table_positions.ts";
import { arrayOf, type Snapshot, uidAt, UidRuns } from "../store/folder/uid_runs.ts";
import { formatSet, type Range } from "./args.ts";
import { positionRuns } from "./position_runs.ts";
import { claimMarked, peekMarked } from "./recent.ts";

/** How often a session re-reads the Maildir for changes made by other processes. */
const EXTERNAL_REFRESH_MS = 1000;
const SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

export interface SyncOptions {
  /** Whether EXPUNGE may be sent now (not during FETCH, STORE, SEARCH, §7.4.1). */
  expunge: boolean;
  /** Look at the Maildir now rather than at most every second (NOOP, CHECK, IDLE). */
  force?: boolean;
  rev1: boolean;
  /** Renders a message's flags for FETCH FLAGS. */
  flags: (uid: number, entry: MessageEntry) => string;
  /** CONDSTORE is enabled: unsolicited FETCH carries MODSEQ (RFC 7162 §3.1). */
  modseq?: boolean;
  /** QRESYNC is enabled: expunges are reported as VANISHED (RFC 7162 §3.2.10). */
  vanished?: boolean;
  /**
   * Text sent just before the expunge of `uids` (highest first) is reported, while their
   * sequence numbers still hold: RFC 5267 §4.3.4 REMOVEFROM of search contexts.
   */
  beforeExpunge?: (uids: number[]) => string;
  /**
   * The messages whose flags changed (this session's own changes included) and the new
   * messages this sync reported: search contexts look at them again (RFC 5267 §4.3).
   */
  changes?: (changed: number[], added: number[]) => void;
}

export class MailboxView {
  /**
   * Sequence number - 1 -> UID, for [0, #n): the folder's snapshot, shared, never written.
   * After a restart it may be the summary's runs until an array is needed (#buf): SELECT,
   * NOOP and SEARCH UNSEEN take them as they are (uid_runs.ts).
   */
  #snap: Snapshot = new Uint32Array(0);
  #n = 0;
  #uids: Uint32Array | null = null;
  /** The folder's HIGHESTMODSEQ when this session was last told about flag changes. */
  #modseq = 0;
  #expungeGeneration = -1;
  /** UIDs that are \Recent for this session (RFC 3501 §2.3.2). */
  readonly recent = new Set<number>();
  /** Flag changes this session reported itself since its last sync: UID -> modseq. */
  readonly #own = new Map<number, number>();
  #version = -1;
  /** The keywords this session was last told of in FLAGS (RFC 3501 §7.2.6). */
  #keywords = "";
  /** Expunges seen while EXPUNGE could not be sent yet. */
  #deferred = false;
  #dirty = false;
  #muted = false;
  #closed = false;
  #lastRefresh = 0;
  #unwatch: () => void;
  /** Called when another session or a delivery changed the folder (IDLE wakes up). */
  onChange: (() => void) | null = null;

  constructor(
    readonly store: MailStore,
    readonly folder: Folder,
    readonly name: string,
    readonly readOnly: boolean,
  ) {
    this.#unwatch = store.watch(folder.path, () => {
      if (this.#muted) return;
      this.#dirty = true;
      this.onChange?.();
    });
    store.retain(folder);
  }

  /**
   * Tells other sessions (and IDLE) that this session changed the folder. The shared
   * Folder already holds the change, so this view need not re-read the Maildir.
   */
  notifyOthers(): void {
    this.#muted = true;
    try {
      this.store.notify(this.folder.path);
    } finally {
      this.#muted = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    this.onChange = null;
    this.store.release(this.folder);
  }

  /**
   * Initial load at SELECT/EXAMINE from a folder just refreshed by store.openFolder;
   * claims \Recent unless read-only. `claimed`: UIDs already claimed for this view as the
   * folder was opened (store.openFolder's `claimed`).
   */
  async open(claimed: readonly number[] = []): Promise<void> {
    this.#lastRefresh = Date.now();
    const folder = this.folder;
    for (const uid of claimed) this.recent.add(uid);
    if (!this.readOnly) await this.#claim();
    this.#adopt();
    if (this.readOnly) {
      // RFC 3501 §6.3.2: EXAMINE shows \Recent without claiming it: files still in new/,
      // and messages APPEND/COPY/MOVE marked for the next selecting session.
      if (folder.recentCount > 0) {
        const buf = this.#buf;
        for (let i = 0; i < this.#n; i++) {
          if (folder.messages.get(buf[i])?.sub === "new") this.recent.add(buf[i]);
        }
      }
      for (const uid of peekMarked(folder.path)) {
        if (folder.messages.has(uid)) this.recent.add(uid);
      }
    }
    this.#modseq = folder.highestModseq;
    this.#version = folder.version;
    this.#expungeGeneration = folder.expungeGeneration;
    this.#keywords = folder.keywords.join(" ");
  }

  /** Takes the folder's current UIDs as this view's sequence numbers. */
  #adopt(): void {
    const snap = this.folder.lazyUidSnapshot();
    this.#take(snap.uids, snap.count);
  }

  #take(snap: Snapshot, n: number): void {
    this.#snap = snap;
    this.#n = n;
    this.#uids = null;
  }

  /** The snapshot as an array (runs are made into one now, once: UidRuns.array). */
  get #buf(): Uint32Array {
    return this.#snap = arrayOf(this.#snap);
  }

  /** FLAGS and PERMANENTFLAGS (RFC 3501 §7.2.6, §7.1): system flags and our keywords. */
  flagsResponses(): string {
    const keywords = this.folder.keywords.filter((k) => k);
    const flags = [SYSTEM_FLAGS, ...keywords].join(" ");
    return `* FLAGS (${flags})\r\n` +
      (this.readOnly
        ? "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
        : `* OK [PERMANENTFLAGS (${flags} \\*)] Flags permitted\r\n`);
  }

  /**
   * FLAGS and PERMANENTFLAGS again when the mailbox's keywords changed since this session
   * was told (RFC 3501 §7.2.6: before any FETCH shows a new one), else "". STORE and FETCH
   * call it before they render flags; sync before its untagged FETCH.
   */
  announceKeywords(): string {
    const now = this.folder.keywords.join(" ");
    if (now === this.#keywords) return "";
    this.#keywords = now;
    return this.flagsResponses();
  }

  /** UIDs by sequence number - 1 (read-only: a view on shared memory). */
  get uids(): Uint32Array {
    return this.#uids ??= this.#buf.subarray(0, this.#n);
  }

  get exists(): number {
    return this.#n;
  }

  get lastUid(): number {
    return this.#n ? uidAt(this.#snap, this.#n - 1) : 0;
  }

  /** The folder's HIGHESTMODSEQ as this session last saw it. */
  get modseq(): number {
    return this.#modseq;
  }

  entry(uid: number): MessageEntry | undefined {
    return this.folder.messages.get(uid);
  }

  /** The entry of sequence number `i + 1` (by position: no lookup), if not expunged. */
  entryAt(i: number): MessageEntry | undefined {
    return this.folder.entryAt(this.#snap, i);
  }

  /** The flag letters of sequence number `i + 1`, if not expunged (Folder.flagsAt: no row read). */
  flagsAt(i: number): string | undefined {
    return this.folder.flagsAt(this.#snap, i);
  }

  /** The positions among the first `n` whose letters hold `letter` (`set`) or lack it, as runs. */
  flagRuns(n: number, letter: string, set: boolean): RunList {
    return this.folder.flagRuns(this.#snap, n, letter, set);
  }

  /** The letter sets and their numbers for the first `n` positions, while current (Folder.flagIds). */
  flagIds(n: number): FlagIds {
    return this.folder.flagIds(this.#snap, n);
  }

  /**
   * The folder's UID snapshot this view's sequence numbers are a prefix of: position
   * `seq - 1` there is what the folder's reads by position take (Folder.sizeAt...).
   */
  get snapshot(): Uint32Array {
    return this.#buf;
  }

  /** Whether sequence number `i + 1` is still in the folder (no entry is read for it). */
  present(i: number): boolean {
    return this.folder.present(this.#snap, i);
  }

  /** Sequence number of a UID, or 0 (binary search: uids ascend). */
  seqOf(uid: number): number {
    const snap = this.#snap, n = this.#n;
    const i = snap instanceof UidRuns ? snap.lowerBound(n, uid) : lowerBound(snap, n, uid);
    return i < n && uidAt(snap, i) === uid ? i + 1 : 0;
  }

  /**
   * The messages a sequence set or UID set selects, as runs of 0-based positions
   * [from, to] (inclusive), ascending and merged (position_runs.ts).
   */
  runs(ranges: Range[], byUid: boolean): [number, number][] {
    return positionRuns(ranges, byUid, this.#n, this.lastUid, () => this.#buf);
  }

  /** The [seq, uid] pairs a sequence set or UID set selects, in sequence order. */
  select(ranges: Range[], byUid: boolean): [number, number][] {
    const out: [number, number][] = [];
    const buf = this.#buf;
    for (const [from, to] of this.runs(ranges, byUid)) {
      for (let i = from; i <= to; i++) out.push([i + 1, buf[i]]);
    }
    return out;
  }

  /**
   * True when sync() without `force` would report nothing and refresh nothing: the
   * session then skips it after a command, and the options and promise it costs.
   */
  upToDate(expunge: boolean): boolean {
    return !this.#dirty && Date.now() - this.#lastRefresh <= EXTERNAL_REFRESH_MS &&
      this.folder.version === this.#version && !(this.#deferred && expunge) &&
      this.folder.keywords.join(" ") === this.#keywords;
  }

  /**
   * Brings the view up to date and returns the untagged responses to send.
   */
  async sync(opts: SyncOptions): Promise<string> {
    const now = Date.now();
    if (this.#dirty || opts.force || now - this.#lastRefresh > EXTERNAL_REFRESH_MS) {
      this.#dirty = false;
      this.#lastRefresh = now;
      await this.folder.refresh();
    }
    const folder = this.folder;
    let out = this.announceKeywords();
    if (folder.version === this.#version && !opts.force && !(this.#deferred && opts.expunge)) {
      return out;
    }
    // Everything below is synchronous up to the \Recent claim: what it reads is one state.
    const version = folder.version;
    const highest = folder.highestModseq;
    // Taken where a message is looked at: after a start from the summary, taking them
    // reads every row (100,000: 140 ms on the loop in one piece, in a restart's NOOP).
    let byUid: EntriesByUid | null = null;
    const msgs = () => (byUid ??= folder.messages);
    // Expunged messages (§7.4.1), highest first so each number is still valid.
    if (folder.expungeGeneration !== this.#expungeGeneration) {
      if (!opts.expunge) this.#deferred = true;
      else {
        const gone: number[] = [];
        const goneAt: number[] = [];
        const buf = this.#buf;
        for (let i = this.#n - 1; i >= 0; i--) {
          const uid = buf[i];
          if (msgs().has(uid)) continue;
          gone.push(uid);
          goneAt.push(i);
          this.recent.delete(uid);
          this.#own.delete(uid);
        }
        if (gone.length && opts.beforeExpunge) out += opts.beforeExpunge(gone);
        if (!opts.vanished) { for (const i of goneAt) out += `* ${i + 1} EXPUNGE\r\n`; }
        else if (gone.length) out += `* VANISHED ${formatSet(gone.reverse())}\r\n`;
        const last = this.lastUid;
        const snap = folder.uidSnapshot();
        this.#take(snap.uids, lowerBound(snap.uids, snap.count, last + 1));
        this.#expungeGeneration = folder.expungeGeneration;
        this.#deferred = false;
      }
    }
    // Flag changes made by others (§7.4.2 FETCH), in sequence order.
    const since = this.#modseq;
    const changed: number[] = [];
    const recent = folder.changedSince(since);
    if (recent === null) {
      // Every message compared (more changes than the folder remembers, e.g. a STORE of
      // 50,000): by the mod-sequence column, no entry made per message (100,000 of them
      // were 18 MB promoted and freed by V8's memory reducer later: docs/performance.md).
      for (let i = 0; i < this.#n; i++) {
        const modseq = folder.modseqAt(this.#snap, i);
        if (modseq !== undefined && modseq > since) changed.push(i);
      }
    } else {
      const seen = new Set<number>();
      for (const uid of recent) {
        if (seen.has(uid)) continue;
        seen.add(uid);
        const seq = this.seqOf(uid);
        if (seq > 0) changed.push(seq - 1);
      }
      changed.sort((a, b) => a - b);
    }
    const changedUids: number[] = [];
    // The mod-sequence from the column again, and an entry only for a change to report
    // (not for this session's own, such as a STORE's 50,000).
    for (const i of changed) {
      const modseq = folder.modseqAt(this.#snap, i);
      if (modseq === undefined || modseq <= since) continue;
      const uid = uidAt(this.#snap, i);
      changedUids.push(uid);
      if (this.#own.get(uid) === modseq) continue;
      const m = msgs().get(uid);
      if (!m) continue;
      const ms = opts.modseq ? ` MODSEQ (${m.modseq})` : "";
      out += `* ${i + 1} FETCH (UID ${uid} FLAGS (${opts.flags(uid, m)})${ms})\r\n`;
    }
    this.#own.clear();
    this.#modseq = highest;
    // New messages (§7.3.1 EXISTS, §7.3.2 RECENT for rev1 clients). With expunges still
    // to report, the numbers stay as they are until then.
    const before = this.#n;
    if (!this.#deferred) {
      this.#adopt();
      const added = this.#n - before;
      if (added > 0) {
        if (!this.readOnly) await this.#claim();
        else {
          const marked = peekMarked(folder.path);
          for (let i = before; i < this.#n; i++) {
            const uid = uidAt(this.#snap, i);
            if (msgs().get(uid)?.sub === "new" || marked.has(uid)) this.recent.add(uid);
          }
        }
        out += `* ${this.#n} EXISTS\r\n`;
        if (opts.rev1) out += `* ${this.recent.size} RECENT\r\n`;
      }
    }
    if (opts.changes && (changedUids.length || this.#n > before)) {
      opts.changes(changedUids, Array.from(this.#buf.subarray(before, this.#n)));
    }
    this.#version = version;
    return out;
  }

  /** Takes \Recent: files still in new/, and UIDs marked by APPEND/COPY/MOVE. */
  async #claim(): Promise<void> {
    for (const uid of await this.folder.claimRecent()) this.recent.add(uid);
    for (const uid of claimMarked(this.folder.path)) {
      if (this.folder.messages.has(uid)) this.recent.add(uid);
    }
  }

  /**
   * Records a flag change this session reported itself (STORE, \Seen by FETCH), so the
   * next sync does not report it again: `modseq` is the message's new mod-sequence.
   */
  noteFlags(uid: number, modseq: number): void {
    this.#own.set(uid, modseq);
  }
}
