/**
 * The mailbox store: where each user's Maildir++ lives, its folders, delivery and
 * appends. The one API every protocol uses (SPEC §5 "Mailbox location").
 *
 * Delivery is durable before it returns (SPEC §7): the message is written once to
 * tmp/, fsync'd, hard-linked into each recipient's new/ (or cur/), and each target
 * directory is fsync'd. Directory syncs of concurrent deliveries are shared (group
 * commit, see fsutil.syncDir), so N sessions delivering at once do not cost N
 * serial syncs per directory. With a delivery journal, a small message into folders
 * not loaded is durable once its journal record is (one fdatasync shared by all
 * deliveries of the moment), and the two fsyncs follow (journaled_delivery.ts).
 *
 * The folders loaded in this process are kept by open_folders.ts, usage counts for
 * quotas by mailbox_usage.ts; folders on disk are made and listed by maildir_tree.ts.
 */
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import type { UserRecord } from "../directory/records.ts";
import type { MessageContent } from "./content.ts";
import {
  exists,
  linkOrCopy,
  renameOrCopy,
  SYNC_WRITE_LIMIT,
  syncDir,
  writeNewFileDurable,
} from "./fsutil.ts";
import type { DeliveryJournal } from "./delivery_journal.ts";
import { deliverJournaled } from "./journaled_delivery.ts";
import { log } from "../log.ts";
import type { Folder } from "./folder/folder.ts";
import type { AddItem } from "./folder/add.ts";
import { MailboxEvents } from "./mailbox_events.ts";
import { UsageCache } from "./mailbox_usage.ts";
import { listFolderNames, makeMaildir, moveInboxMessages } from "./maildir_tree.ts";
import { stopIdleDirWorker } from "./folder/dir_check.ts";
import {
  DELIMITER,
  fileNameFor,
  FolderNameError,
  folderToDir,
  isInbox,
  newBaseName,
} from "./maildir_names.ts";
import { KeysSpool, type StoreHooks } from "./keys_spool.ts";
import { OpenFolders } from "./open_folders.ts";
import type { FullTextIndex } from "./fts/fts.ts";
import { UIDLIST } from "./folder/uidlist.ts";

export const SPECIAL_FOLDERS = ["Drafts", "Sent", "Trash", "Junk", "Archive"] as const;

export interface DeliveryTarget {
  /** Maildir root (absolute). */
  root: string;
  /** IMAP folder name; INBOX when absent. */
  folder?: string;
}

export interface StoreOptions {
  /** Flag letters for the stored file (files go to cur/ when given). */
  flags?: string;
  /** Internal date (ms since epoch) to set as the file's mtime. */
  internalDate?: number;
}

export interface StoredMessage {
  folderPath: string;
  base: string;
  /** The UID, when the folder was open in this process (assigned as it was stored). */
  uid?: number;
}

type Listener = () => void;

/** Journaled deliveries whose background syncs may run at once before one waits for its own. */
const BACKGROUND_LIMIT = 1024;

/** userRoot() results kept; past this many the memory starts over (a cache, not state). */
const MAX_REMEMBERED_ROOTS = 50_000;

export class MailStore {
  readonly dirBase: string;
  readonly hashDirs: number;
  readonly #folders = new OpenFolders();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #usage = new UsageCache();
  /** Mailboxes created, deleted, renamed (and what IMAP adds: subscriptions, metadata). */
  readonly events = new MailboxEvents();
  readonly #hooks: StoreHooks;
  readonly #keysSpool: KeysSpool;
  /** userRoot() by user name, domain and DIR. */
  readonly #roots = new Map<string, string>();
  /** Small deliveries go through it when given (journaled_delivery.ts), else fsync twice. */
  readonly #journal: DeliveryJournal | null;
  /** Background syncs of journaled deliveries (awaited by close()). */
  readonly #syncing = new Set<Promise<void>>();

  constructor(
    dirBase: string,
    hashDirs: number,
    hooks: StoreHooks = {},
    journal: DeliveryJournal | null = null,
  ) {
    this.dirBase = resolve(dirBase);
    this.hashDirs = hashDirs;
    this.#hooks = hooks;
    this.#journal = journal;
    this.#keysSpool = new KeysSpool((path) => this.#folders.loaded(path), hooks);
  }

  /** The full-text index of SEARCH BODY/TEXT (StoreHooks.fullText), or null: scan. */
  get fullText(): FullTextIndex | null {
    return this.#hooks.fullText ?? null;
  }

  /**
   * The index key text of a message about to be stored (StoreHooks.messageKeys), or null
   * without the hook or when it fails (the keys are then computed from the file later).
   */
  keysFor(bytes: Uint8Array, whole = true): string | null {
    if (!this.#hooks.messageKeys) return null;
    try {
      return this.#hooks.messageKeys(bytes, whole);
    } catch {
      return null;
    }
  }

  /** keysFor() of content to store: its bytes, or its header when only that is in memory. */
  contentKeys(data: Uint8Array | MessageContent): string | null {
    if (data instanceof Uint8Array) return this.keysFor(data);
    return data.header ? this.keysFor(data.header, false) : null;
  }

  /**
   * SPEC §5: DirBase/domains/<domain>/<h1>/.../<hN>/<user>/, or DirBase/<DIR>. Remembered
   * per user (an MD5 per delivery was a few percent of the event loop under SMTP ingest).
   */
  userRoot(user: Pick<UserRecord, "name" | "domain" | "dir">): string {
    const key = `${user.name}\0${user.domain}\0${user.dir}`;
    let root = this.#roots.get(key);
    if (root === undefined) {
      root = this.#userRoot(user);
      if (this.#roots.size >= MAX_REMEMBERED_ROOTS) this.#roots.clear();
      this.#roots.set(key, root);
    }
    return root;
  }

  #userRoot(user: Pick<UserRecord, "name" | "domain" | "dir">): string {
    if (user.dir) {
      const root = resolve(this.dirBase, user.dir);
      const rel = relative(this.dirBase, root);
      if (rel === "" || rel.startsWith("..")) {
        throw new FolderNameError(`DIR ${user.dir} is outside DirBase`);
      }
      return root;
    }
    const name = user.name.toLowerCase();
    const md5 = createHash("md5").update(name).digest("hex");
    const levels: string[] = [];
    for (let i = 0; i < this.hashDirs; i++) levels.push(md5.slice(2 * i, 2 * i + 2));
    return join(this.dirBase, "domains", user.domain.toLowerCase(), ...levels, name);
  }

  /** Creates the Maildir root and the special-use folders (idempotent). */
  async ensureMailbox(root: string): Promise<void> {
    await makeMaildir(root);
    for (const name of SPECIAL_FOLDERS) {
      const path = join(root, folderToDir(name));
      if (!(await exists(path))) await makeMaildir(path, true);
    }
  }

  /** Deletes a user's Maildir root with everything in it. */
  async removeMailbox(root: string): Promise<void> {
    await this.#folders.drop((key) => key === root || key.startsWith(root + "/"));
    this.#usage.forget(root);
    await Deno.remove(root, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  folderPath(root: string, name: string): string {
    const dir = folderToDir(name);
    return dir === "" ? root : join(root, dir);
  }

  async folderExists(root: string, name: string): Promise<boolean> {
    return await exists(join(this.folderPath(root, name), "cur"));
  }

  /**
   * The shared, refreshed state of a folder; null if it does not exist. `claimed`: the
   * caller takes \Recent as it opens the folder (IMAP SELECT): the UIDs it saw as \Recent
   * are pushed there (Folder.refreshAndClaim).
   */
  async openFolder(root: string, name: string, claimed?: number[]): Promise<Folder | null> {
    return await this.#folders.open(this.folderPath(root, name), claimed);
  }

  /** Keeps a folder loaded while a session has it selected (release when done). */
  retain(folder: Folder): void {
    this.#folders.retain(folder);
  }

  release(folder: Folder): void {
    this.#folders.release(folder);
  }

  /** Writes every open folder's index and closes it (daemon shutdown). */
  async close(): Promise<void> {
    // Journaled deliveries finish their syncs, so their records are retired and removed.
    while (this.#syncing.size > 0) await Promise.all([...this.#syncing]);
    await this.#journal?.close();
    // The spool hands keys to loaded folders at once, then its worker writes the rest.
    await Promise.all([
      this.#keysSpool.close(),
      this.#hooks.fullText?.close(),
      this.#folders.drop(() => true),
    ]);
    stopIdleDirWorker();
  }

  /** IMAP names of every folder under the root, INBOX first. */
  listFolders(root: string): Promise<string[]> {
    return listFolderNames(root);
  }

  async createFolder(root: string, name: string): Promise<void> {
    if (isInbox(name)) throw new FolderNameError("INBOX already exists");
    const path = this.folderPath(root, name);
    if (await exists(path)) throw new FolderNameError(`mailbox "${name}" already exists`);
    await makeMaildir(path, true);
    this.events.emit(root, { kind: "created", name });
  }

  /** Removes one folder (not its children: they are separate Maildir++ folders). */
  async deleteFolder(root: string, name: string): Promise<void> {
    if (isInbox(name)) throw new FolderNameError("INBOX cannot be deleted");
    const path = this.folderPath(root, name);
    if (!(await exists(path))) throw new FolderNameError(`mailbox "${name}" does not exist`);
    await this.#folders.drop((key) => key === path);
    await Deno.remove(path, { recursive: true });
    await syncDir(root);
    this.#usage.forget(root);
    this.notify(path);
    this.events.emit(root, { kind: "deleted", name });
  }

  /**
   * Renames a folder and its children. Renaming INBOX moves its messages into the
   * new folder and leaves INBOX empty (RFC 3501 6.3.5).
   */
  async renameFolder(root: string, from: string, to: string): Promise<void> {
    const dst = this.folderPath(root, to);
    if (isInbox(to) || (await exists(dst))) {
      throw new FolderNameError(`mailbox "${to}" already exists`);
    }
    if (isInbox(from)) {
      await this.#folders.drop((key) => key === root, true);
      await moveInboxMessages(root, dst);
      this.notify(root);
      this.events.emit(root, { kind: "created", name: to });
      return;
    }
    const src = this.folderPath(root, from);
    if (!(await exists(src))) throw new FolderNameError(`mailbox "${from}" does not exist`);
    const children = (await this.listFolders(root)).filter((n) => n.startsWith(from + DELIMITER));
    const moving = [src, ...children.map((c) => this.folderPath(root, c))];
    await this.#folders.drop((key) => moving.includes(key));
    await Deno.rename(src, dst);
    for (const child of children) {
      const newName = to + child.slice(from.length);
      await Deno.rename(this.folderPath(root, child), this.folderPath(root, newName));
    }
    await syncDir(root);
    this.notify(src);
    this.events.emit(root, { kind: "renamed", from, to });
  }

  /**
   * Stores one message durably in every target (hard links, one data fsync) and
   * tells watchers. Resolves once everything is on disk. A target folder that is open
   * in this process takes the file in directly (UID assigned, no directory scan).
   * Content in pieces (MessageContent, a message received into a spool file) is
   * copied into the tmp/ file in chunks; content that is a whole fsync'd spool file is
   * linked as it is, no copy (src/delivery/incoming.ts, docs/delivery.md).
   */
  async deliver(
    targets: readonly DeliveryTarget[],
    data: Uint8Array | MessageContent,
    opts: StoreOptions = {},
  ): Promise<StoredMessage[]> {
    if (targets.length === 0) return [];
    const size = data instanceof Uint8Array ? data.length : data.size;
    const base = newBaseName(size);
    const linkable = data instanceof Uint8Array ? null : data.linkable;
    // The SORT/SEARCH keys, computed once while the bytes (or the header) are at hand:
    // here for a folder loaded, by the keys spool's worker for the others when it can.
    let keysNow: string | null | undefined;
    const keys = () => keysNow === undefined ? (keysNow = this.contentKeys(data)) : keysNow;
    // The internal date is set before the fsync, so that the fsync makes it durable too.
    const when = opts.internalDate !== undefined ? new Date(opts.internalDate) : null;
    const sub = opts.flags !== undefined ? "cur" : "new";
    const name = opts.flags !== undefined ? fileNameFor(base, opts.flags) : base;
    // Distinct destination folders; the last one gets the tmp file by rename, the
    // others by hard link, so a single-recipient delivery costs one rename.
    const dests: { root: string; folderPath: string }[] = [];
    for (const t of targets) {
      const folderPath = this.folderPath(t.root, t.folder ?? "INBOX");
      if (!dests.some((d) => d.folderPath === folderPath)) dests.push({ root: t.root, folderPath });
    }
    if (
      this.#journal && data instanceof Uint8Array && data.length <= SYNC_WRITE_LIMIT &&
      when === null && sub === "new" && !dests.some((d) => this.#isLoaded(d.folderPath))
    ) {
      return await this.#deliverJournaled(this.#journal, targets[0].root, base, dests, data, keys);
    }
    let src: string;
    if (linkable) {
      // The spool file is the message: its one fsync, then links (the spool removes it).
      if (when) await Deno.utime(linkable.path, when, when);
      await linkable.sync();
      src = linkable.path;
    } else if (data instanceof Uint8Array) {
      // A message in memory (the usual SMTP delivery): created, written and synced.
      src = join(targets[0].root, "tmp", base);
      await writeNewFileDurable(src, data, when);
    } else {
      src = join(targets[0].root, "tmp", base);
      const file = await Deno.open(src, { write: true, createNew: true, mode: 0o600 });
      try {
        await data.writeTo(file);
        if (when) await file.utime(when, when);
        await file.sync();
      } catch (e) {
        file.close();
        await Deno.remove(src).catch(() => {});
        throw e;
      }
      file.close();
    }
    const stored: StoredMessage[] = [];
    // A spool file is never consumed: every destination gets a link.
    let srcGone = linkable !== null;
    try {
      for (let i = 0; i < dests.length; i++) {
        const last = i === dests.length - 1 && !linkable;
        const folder = this.#folders.loaded(dests[i].folderPath);
        if (folder && !folder.closed) {
          const item: AddItem = {
            src,
            link: !last,
            base,
            flags: opts.flags ?? null,
            size,
            internalDate: opts.internalDate ?? null,
            keys: keys(),
          };
          const [uid] = await folder.add([item]);
          if (!uid) throw new Deno.errors.NotFound(`${src} vanished during delivery`);
          if (last) srcGone = true;
          stored.push({ folderPath: dests[i].folderPath, base, uid });
        } else {
          const dest = join(dests[i].folderPath, sub, name);
          // Another file system: copied, and tmp is removed below.
          if (last) srcGone = await renameOrCopy(src, dest);
          else await linkOrCopy(src, dest);
          stored.push({ folderPath: dests[i].folderPath, base });
          this.#spoolKeys(dests[i].folderPath, base, data, keys);
        }
        this.#usage.adjust(dests[i].root, size);
      }
      await Promise.all(dests.map((d) => syncDir(join(d.folderPath, sub))));
    } finally {
      // Left over after a copy to another file system or a failure.
      if (!srcGone) await Deno.remove(src).catch(() => {});
    }
    for (const s of stored) this.notify(s.folderPath);
    return stored;
  }

  #isLoaded(folderPath: string): boolean {
    const folder = this.#folders.loaded(folderPath);
    return folder !== undefined && folder !== null && !folder.closed;
  }

  /**
   * deliver() of a small message into folders not loaded here: durable through the
   * delivery journal, one shared sync before it resolves (journaled_delivery.ts). The
   * file's and directories' fsyncs follow in the background; past BACKGROUND_LIMIT
   * deliveries still syncing, a delivery waits for its own (the backlog stays bounded).
   */
  async #deliverJournaled(
    journal: DeliveryJournal,
    root: string,
    base: string,
    dests: { root: string; folderPath: string }[],
    data: Uint8Array,
    keys: () => string | null,
  ): Promise<StoredMessage[]> {
    const src = join(root, "tmp", base);
    const paths = dests.map((d) => join(d.folderPath, "new", base));
    const { background } = await deliverJournaled(journal, src, paths, data);
    const tracked = background.catch((e) => {
      // The record stays in the journal: the next start replays it (nothing is lost).
      log("store").error(`background sync of ${paths.join(", ")} failed: ${e}`);
    }).finally(() => this.#syncing.delete(tracked));
    this.#syncing.add(tracked);
    const stored: StoredMessage[] = [];
    for (const d of dests) {
      stored.push({ folderPath: d.folderPath, base });
      this.#spoolKeys(d.folderPath, base, data, keys);
      this.#usage.adjust(d.root, data.length);
    }
    if (this.#syncing.size > BACKGROUND_LIMIT) await tracked;
    for (const s of stored) this.notify(s.folderPath);
    return stored;
  }

  /** Hands a delivered message's keys (or the bytes they come from) to the keys spool. */
  #spoolKeys(
    folderPath: string,
    base: string,
    data: Uint8Array | MessageContent,
    keys: () => string | null,
  ): void {
    if (!this.#hooks.messageKeys) return;
    if (!this.#keysSpool.computesLater) {
      const text = keys();
      if (text) this.#keysSpool.put(folderPath, base, text);
    } else if (data instanceof Uint8Array) {
      this.#keysSpool.put(folderPath, base, { bytes: data, whole: true });
    } else if (data.header) {
      this.#keysSpool.put(folderPath, base, { bytes: data.header, whole: false });
    }
  }

  /** APPEND/COPY helper: stores into one folder and returns the new UID. */
  async append(
    root: string,
    folderName: string,
    data: Uint8Array | MessageContent,
    opts: StoreOptions = {},
  ): Promise<{ uid: number; uidValidity: number }> {
    const folder = await this.openFolder(root, folderName);
    if (!folder) throw new FolderNameError(`mailbox "${folderName}" does not exist`);
    const [stored] = await this.deliver([{ root, folder: folderName }], data, {
      ...opts,
      flags: opts.flags ?? "",
    });
    if (stored.uid) return { uid: stored.uid, uidValidity: folder.uidValidity };
    // The folder was dropped meanwhile (deleted, renamed): find the file by its name.
    const again = await this.openFolder(root, folderName);
    if (again) {
      for (const m of again.messages.values()) {
        if (m.base === stored.base) return { uid: m.uid, uidValidity: again.uidValidity };
      }
    }
    throw new Error(`appended message ${stored.base} not found after refresh`);
  }

  /**
   * IMAP COPY/MOVE helper: puts messages of `source` into another folder without
   * rewriting their data (hard links; flags, keywords and internal date kept; a move
   * keeps the base name), makes the entries durable, and returns [source UID, new UID]
   * pairs. A move then expunges the originals from `source`.
   */
  async copyMessages(
    source: Folder,
    uids: readonly number[],
    root: string,
    folderName: string,
    opts: { move?: boolean } = {},
  ): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    const dest = await this.openFolder(root, folderName);
    if (!dest) throw new FolderNameError(`mailbox "${folderName}" does not exist`);
    const letters = new Map<string, string>();
    const pairs: [number, number][] = [];
    let bytes = 0;
    let todo = [...uids];
    // Twice: a message renamed meanwhile (a flag change) is linked again from its new name.
    for (let attempt = 0; attempt < 2 && todo.length > 0; attempt++) {
      const items: AddItem[] = [];
      const from: number[] = [];
      for (const uid of todo) {
        const m = source.messages.get(uid);
        if (!m) continue;
        const keep = opts.move && source !== dest && !dest.hasBase(m.base);
        // Keyword letters are per folder: carry keywords over by name.
        let flags = letters.get(m.flags);
        if (flags === undefined) {
          flags = /[a-z]/.test(m.flags) ? await dest.lettersFor(source.flagNames(m)) : m.flags;
          letters.set(m.flags, flags);
        }
        items.push({
          src: source.filePath(m),
          link: true,
          base: keep ? m.base : newBaseName(m.size),
          flags,
          size: m.size,
          internalDate: m.internalDate,
          // The same bytes: the source's stored keys hold (none: computed later).
          keys: source.keysGet(m.base),
        });
        from.push(uid);
      }
      const got = await dest.add(items);
      todo = [];
      got.forEach((u, i) => {
        if (u) {
          pairs.push([from[i], u]);
          bytes += items[i].size;
        } else todo.push(from[i]);
      });
    }
    await syncDir(join(dest.path, "cur"));
    pairs.sort((a, b) => a[0] - b[0]);
    if (opts.move && pairs.length > 0) await source.expunge(pairs.map((p) => p[0]));
    const sameRoot = source.path === root || source.path.startsWith(root + "/");
    if (!opts.move || !sameRoot) this.#usage.adjust(root, bytes);
    if (opts.move && !sameRoot) this.invalidateUsage(source.path);
    this.notify(dest.path);
    if (opts.move) this.notify(source.path);
    return { uidValidity: dest.uidValidity, pairs };
  }

  /** Mailbox usage in bytes (all folders), cached and kept current by our own writes. */
  usage(root: string): Promise<number> {
    return this.#usage.get(
      root,
      async () => (await this.listFolders(root)).map((name) => this.folderPath(root, name)),
    );
  }

  /** Forget the cached usage of the Maildir root that contains this folder path. */
  invalidateUsage(folderPath: string): void {
    this.#usage.forgetFolder(folderPath);
  }

  /** Subscribe to changes of one folder (deliveries, expunges, flag changes). */
  watch(folderPath: string, listener: Listener): () => void {
    let set = this.#listeners.get(folderPath);
    if (!set) this.#listeners.set(folderPath, set = new Set());
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.#listeners.delete(folderPath);
    };
  }

  notify(folderPath: string): void {
    this.#hooks.fullText?.changed(folderPath);
    for (const l of this.#listeners.get(folderPath) ?? []) {
      try {
        l();
      } catch { /* a watcher's failure is its own */ }
    }
  }
}

export { UIDLIST };
export type { StoreHooks };
