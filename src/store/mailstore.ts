/**
 * The mailbox store: where each user's Maildir++ lives, its folders, delivery and
 * appends. The one API every protocol uses (SPEC §5 "Mailbox location").
 *
 * Delivery is durable before it returns (SPEC §7): written once to tmp/, fsync'd,
 * hard-linked into each recipient's folder, each target directory fsync'd (group commit,
 * fsutil.syncDir), or through the delivery journal for small messages; that write path
 * and COPY/MOVE's links are maildir_delivery.ts.
 *
 * The folders loaded in this process are kept by open_folders.ts, usage counts for
 * quotas by mailbox_usage.ts; folders on disk are made and listed by maildir_tree.ts.
 */
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import type { UserRecord } from "../directory/records.ts";
import type { MessageContent } from "./content.ts";
import { exists, syncDir } from "./fsutil.ts";
import type { DeliveryJournal } from "./delivery_journal.ts";
import type { FilePool } from "./file_pool.ts";
import type { Folder } from "./folder/folder.ts";
import { KeyedListeners, MailboxEvents } from "./mailbox_events.ts";
import {
  type DeliveryTarget,
  MaildirDelivery,
  type StoredMessage,
  type StoreOptions,
} from "./maildir_delivery.ts";
import { UsageCache } from "./mailbox_usage.ts";
import { listFolderNames, makeMaildir, moveInboxMessages } from "./maildir_tree.ts";
import { log } from "../log.ts";
import { prestartDirWorker, stopIdleDirWorker } from "./folder/dir_check.ts";
import { DELIMITER, FolderNameError, folderToDir, isInbox } from "./maildir_names.ts";
import { KeysSpool, type StoreHooks } from "./keys_spool.ts";
import { OpenFolders } from "./open_folders.ts";
import type { FullTextIndex } from "./fts/fts.ts";
import { UIDLIST } from "./folder/uidlist.ts";

export const SPECIAL_FOLDERS = ["Drafts", "Sent", "Trash", "Junk", "Archive"] as const;

/** userRoot() results kept; past this many the memory starts over (a cache, not state). */
const MAX_REMEMBERED_ROOTS = 50_000;

export class MailStore {
  readonly dirBase: string;
  readonly hashDirs: number;
  readonly #folders = new OpenFolders();
  /** Watchers of each folder path (watch, notify). */
  readonly #watchers = new KeyedListeners<void>();
  readonly #usage = new UsageCache();
  /** Mailboxes created, deleted, renamed (and what IMAP adds: subscriptions, metadata). */
  readonly events = new MailboxEvents();
  readonly #hooks: StoreHooks;
  readonly #keysSpool: KeysSpool;
  /** userRoot() by user name, domain and DIR. */
  readonly #roots = new Map<string, string>();
  /** Small deliveries go through it when given (journaled_delivery.ts), else fsync twice. */
  readonly #journal: DeliveryJournal | null;
  /** Files made ahead for the journaled deliveries (file_pool.ts); closed with the store. */
  readonly #pool: FilePool | null;
  readonly #delivery: MaildirDelivery;

  constructor(
    dirBase: string,
    hashDirs: number,
    hooks: StoreHooks = {},
    journal: DeliveryJournal | null = null,
    pool: FilePool | null = null,
  ) {
    this.dirBase = resolve(dirBase);
    this.hashDirs = hashDirs;
    this.#hooks = hooks;
    this.#journal = journal;
    this.#pool = pool;
    this.#keysSpool = new KeysSpool((path) => this.#folders.loaded(path), hooks);
    this.#delivery = new MaildirDelivery({
      folders: this.#folders,
      usage: this.#usage,
      keysSpool: this.#keysSpool,
      hooks,
      journal,
      pool,
      folderPath: (root, name) => this.folderPath(root, name),
      contentKeys: (data) => this.contentKeys(data),
      notify: (path) => this.notify(path),
      openFolder: (root, name) => this.openFolder(root, name),
    });
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

  /**
   * Starts the big directories' verification thread (dir_check.ts) at daemon start, where
   * its blocking start stalls no session: after a restart the first verification of a big
   * folder comes with its first check (a mark saved unsettled: a change in the 30 s before
   * the stop) or 2 s after its first change, and started there it held the loop 14-54 ms
   * for every session. It lingers as after a check (LINGER_MS), and is kept while checks
   * come; with no big folder in use it ends then.
   */
  prestartDirCheck(): void {
    if (prestartDirWorker()) {
      log("store").debug("directory check worker started (idle, it lingers)");
    }
  }

  /** Writes every open folder's index and closes it (daemon shutdown). */
  async close(): Promise<void> {
    // Journaled deliveries finish their syncs, so their records are retired and removed.
    await this.#delivery.drain();
    await Promise.all([this.#journal?.close(), this.#pool?.close()]);
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
   * Stores one message durably in every target (hard links, one data fsync) and tells
   * watchers; resolves once everything is on disk (maildir_delivery.ts).
   */
  deliver(
    targets: readonly DeliveryTarget[],
    data: Uint8Array | MessageContent,
    opts: StoreOptions = {},
  ): Promise<StoredMessage[]> {
    return this.#delivery.deliver(targets, data, opts);
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
   * rewriting their data and returns [source UID, new UID] pairs; a move then expunges
   * the originals (maildir_delivery.ts).
   */
  copyMessages(
    source: Folder,
    uids: readonly number[],
    root: string,
    folderName: string,
    opts: { move?: boolean } = {},
  ): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    return this.#delivery.copyMessages(source, uids, root, folderName, opts);
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
  watch(folderPath: string, listener: () => void): () => void {
    return this.#watchers.subscribe(folderPath, listener);
  }

  notify(folderPath: string): void {
    this.#hooks.fullText?.changed(folderPath);
    this.#watchers.emit(folderPath);
  }
}

export { UIDLIST };
export type { StoreHooks };
export type { DeliveryTarget, StoredMessage, StoreOptions } from "./maildir_delivery.ts";
