/**
 * One session's view of its selected mailbox (RFC 3501 §2.3.1.2, §7): its own
 * sequence numbers, the flags it was last told, and which messages are \Recent for
 * it. The shared Folder changes under it (other sessions, SMTP deliveries); `sync`
 * turns the difference into untagged EXISTS / EXPUNGE / FETCH at the moments the
 * RFC allows, so each session's numbering stays consistent.
 */
import type { Folder, MessageEntry } from "../store/folder.ts";
import type { MailStore } from "../store/mailstore.ts";
import { bad, type Range, resolveRanges } from "./args.ts";
import { claimMarked, peekMarked } from "./recent.ts";

/** How often a session re-reads the Maildir for changes made by other processes. */
const EXTERNAL_REFRESH_MS = 1000;
const SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

export class MailboxView {
  /** Sequence number - 1 -> UID. */
  uids: number[] = [];
  /** Flag letters last reported to the client, by sequence number - 1 (like uids). */
  told: string[] = [];
  /** UIDs that are \Recent for this session (RFC 3501 §2.3.2). */
  readonly recent = new Set<number>();
  #version = -1;
  #keywords = 0;
  /** Expunges seen while EXPUNGE could not be sent yet. */
  #deferred = false;
  #dirty = false;
  #muted = false;
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
    this.#unwatch();
    this.onChange = null;
  }

  /**
   * Initial load at SELECT/EXAMINE from a folder just refreshed by store.openFolder;
   * claims \Recent unless read-only.
   */
  async open(): Promise<void> {
    this.#lastRefresh = Date.now();
    if (!this.readOnly) { for (const uid of await this.folder.claimRecent()) this.recent.add(uid); }
    else for (const m of this.folder.messages.values()) if (m.sub === "new") this.recent.add(m.uid);
    for (const m of this.folder.messages.values()) {
      this.uids.push(m.uid);
      this.told.push(m.flags);
    }
    this.#version = this.folder.version;
    this.#keywords = this.folder.keywords.length;
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

  get exists(): number {
    return this.uids.length;
  }

  get lastUid(): number {
    return this.uids.length ? this.uids[this.uids.length - 1] : 0;
  }

  entry(uid: number): MessageEntry | undefined {
    return this.folder.messages.get(uid);
  }

  /** Sequence number of a UID, or 0 (binary search: uids ascend). */
  seqOf(uid: number): number {
    let lo = 0, hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid];
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** The [seq, uid] pairs a sequence set or UID set selects, in sequence order. */
  select(ranges: Range[], byUid: boolean): [number, number][] {
    const out: [number, number][] = [];
    const n = this.uids.length;
    if (!byUid) {
      // RFC 3501 §9 seq-number: a number past EXISTS is a client error.
      // A range ending in "*" stays valid in an empty mailbox (clients re-sync with 1:*).
      for (const r of ranges) {
        if (r.to !== Infinity && (r.to > n || r.from > n)) {
          throw bad("Invalid message sequence number");
        }
      }
    }
    if (n === 0) return out;
    if (!byUid) {
      for (const r of resolveRanges(ranges, n)) {
        for (let s = Math.max(1, r.from); s <= Math.min(n, r.to); s++) {
          out.push([s, this.uids[s - 1]]);
        }
      }
    } else {
      for (const r of resolveRanges(ranges, this.lastUid)) {
        let i = lowerBound(this.uids, r.from);
        for (; i < n && this.uids[i] <= r.to; i++) out.push([i + 1, this.uids[i]]);
      }
    }
    if (ranges.length > 1) {
      out.sort((a, b) => a[0] - b[0]);
      return out.filter((p, i) => i === 0 || out[i - 1][0] !== p[0]);
    }
    return out;
  }

  /**
   * Brings the view up to date and returns the untagged responses to send.
   * `expunge`: whether EXPUNGE may be sent now (not during FETCH, STORE, SEARCH,
   * RFC 3501 §7.4.1). `flagNames` renders a message's flags for FETCH FLAGS.
   */
  async sync(opts: {
    expunge: boolean;
    force?: boolean;
    rev1: boolean;
    flags: (uid: number, entry: MessageEntry) => string;
  }): Promise<string> {
    const now = Date.now();
    if (this.#dirty || opts.force || now - this.#lastRefresh > EXTERNAL_REFRESH_MS) {
      this.#dirty = false;
      this.#lastRefresh = now;
      await this.folder.refresh();
    }
    const folder = this.folder;
    let out = "";
    if (folder.keywords.length !== this.#keywords) {
      // A new keyword joined the mailbox's flags (RFC 3501 §7.2.6).
      this.#keywords = folder.keywords.length;
      out += this.flagsResponses();
    }
    if (folder.version === this.#version && !opts.force && !(this.#deferred && opts.expunge)) {
      return out;
    }
    // Expunged messages (§7.4.1), highest first so each number is still valid.
    const msgs = folder.messages;
    if (!opts.expunge) {
      if (!this.#deferred) this.#deferred = this.uids.some((u) => !msgs.has(u));
    } else {
      this.#deferred = false;
      let gone = false;
      for (let i = this.uids.length - 1; i >= 0; i--) {
        const uid = this.uids[i];
        if (msgs.has(uid)) continue;
        out += `* ${i + 1} EXPUNGE\r\n`;
        this.recent.delete(uid);
        this.uids[i] = 0;
        gone = true;
      }
      if (gone) {
        this.told = this.told.filter((_, i) => this.uids[i] !== 0);
        this.uids = this.uids.filter((u) => u !== 0);
      }
    }
    // Flag changes made by others (§7.4.2 FETCH).
    for (let i = 0; i < this.uids.length; i++) {
      const uid = this.uids[i];
      const m = msgs.get(uid);
      if (!m) continue;
      if (this.told[i] !== m.flags) {
        this.told[i] = m.flags;
        out += `* ${i + 1} FETCH (UID ${uid} FLAGS (${opts.flags(uid, m)}))\r\n`;
      }
    }
    // New messages (§7.3.1 EXISTS, §7.3.2 RECENT for rev1 clients).
    const last = this.lastUid;
    if (folder.uidNext - 1 > last) {
      let added = 0;
      for (const m of msgs.values()) {
        if (m.uid <= last) continue;
        this.uids.push(m.uid);
        this.told.push(m.flags);
        added++;
      }
      if (added > 0) {
        if (!this.readOnly) await this.#claim();
        else {
          const marked = peekMarked(folder.path);
          for (const uid of this.uids.slice(-added)) {
            if (msgs.get(uid)?.sub === "new" || marked.has(uid)) this.recent.add(uid);
          }
        }
        out += `* ${this.uids.length} EXISTS\r\n`;
        if (opts.rev1) out += `* ${this.recent.size} RECENT\r\n`;
      }
    }
    this.#version = folder.version;
    return out;
  }

  /** Takes \Recent: files still in new/, and UIDs marked by APPEND/COPY/MOVE. */
  async #claim(): Promise<void> {
    for (const uid of await this.folder.claimRecent()) this.recent.add(uid);
    for (const uid of claimMarked(this.folder.path)) {
      if (this.folder.messages.has(uid)) this.recent.add(uid);
    }
  }

  /** Records flags this session reported itself (STORE, \Seen by FETCH). */
  noteFlags(uid: number, letters: string): void {
    const seq = this.seqOf(uid);
    if (seq > 0) this.told[seq - 1] = letters;
  }
}

function lowerBound(a: number[], v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
