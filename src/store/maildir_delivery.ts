/**
 * Putting messages into Maildir folders durably (MailStore.deliver and copyMessages):
 * the tmp/ file written once and fsync'd, hard-linked into each target's new/ (or cur/),
 * each target directory fsync'd (shared by concurrent deliveries: fsutil.syncDir's group
 * commit); folders loaded in this process take the file in directly (UID assigned, no
 * directory scan); small messages into folders not loaded go through the delivery
 * journal when there is one (durable once its record is, the fsyncs follow:
 * journaled_delivery.ts); COPY/MOVE link the files again. Split from mailstore.ts so the
 * write path and its durability rules (SPEC §7) read apart from the folder operations.
 */
import { join } from "node:path";
import type { MessageContent } from "./content.ts";
import type { DeliveryJournal } from "./delivery_journal.ts";
import type { AddItem } from "./folder/add.ts";
import type { Folder } from "./folder/folder.ts";
import {
  linkOrCopy,
  renameOrCopy,
  SYNC_WRITE_LIMIT,
  syncDir,
  writeNewFileDurable,
} from "./fsutil.ts";
import type { FilePool } from "./file_pool.ts";
import { deliverJournaled } from "./journaled_delivery.ts";
import type { KeysSpool, StoreHooks } from "./keys_spool.ts";
import type { UsageCache } from "./mailbox_usage.ts";
import { fileNameFor, FolderNameError, newBaseName } from "./maildir_names.ts";
import type { OpenFolders } from "./open_folders.ts";
import { log } from "../log.ts";

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

/** Journaled deliveries whose background syncs may run at once before one waits for its own. */
const BACKGROUND_LIMIT = 1024;

/** What deliveries use of the store (MailStore hands over its own). */
export interface DeliveryDeps {
  folders: OpenFolders;
  usage: UsageCache;
  keysSpool: KeysSpool;
  hooks: StoreHooks;
  /** Small deliveries go through it when given (journaled_delivery.ts), else fsync twice. */
  journal: DeliveryJournal | null;
  /** Files made ahead for the journaled deliveries (file_pool.ts), when given. */
  pool: FilePool | null;
  folderPath(root: string, name: string): string;
  /** MailStore.contentKeys: the SORT/SEARCH key text of the content, or null. */
  contentKeys(data: Uint8Array | MessageContent): string | null;
  /** Tells a folder's watchers it changed. */
  notify(folderPath: string): void;
  /** MailStore.openFolder: the shared, refreshed folder, or null. */
  openFolder(root: string, name: string): Promise<Folder | null>;
}

export class MaildirDelivery {
  readonly #d: DeliveryDeps;
  /** Background syncs of journaled deliveries (awaited by drain()). */
  readonly #syncing = new Set<Promise<void>>();

  constructor(deps: DeliveryDeps) {
    this.#d = deps;
  }

  /** Waits until every journaled delivery's background syncs are done (store close). */
  async drain(): Promise<void> {
    while (this.#syncing.size > 0) await Promise.all([...this.#syncing]);
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
    const keys = () => keysNow === undefined ? (keysNow = this.#d.contentKeys(data)) : keysNow;
    // The internal date is set before the fsync, so that the fsync makes it durable too.
    const when = opts.internalDate !== undefined ? new Date(opts.internalDate) : null;
    const sub = opts.flags !== undefined ? "cur" : "new";
    const name = opts.flags !== undefined ? fileNameFor(base, opts.flags) : base;
    // Distinct destination folders; the last one gets the tmp file by rename, the
    // others by hard link, so a single-recipient delivery costs one rename.
    const dests: { root: string; folderPath: string }[] = [];
    for (const t of targets) {
      const folderPath = this.#d.folderPath(t.root, t.folder ?? "INBOX");
      if (!dests.some((d) => d.folderPath === folderPath)) dests.push({ root: t.root, folderPath });
    }
    if (
      this.#d.journal && data instanceof Uint8Array && data.length <= SYNC_WRITE_LIMIT &&
      when === null && sub === "new" && !dests.some((d) => this.#isLoaded(d.folderPath))
    ) {
      return await this.#deliverJournaled(
        this.#d.journal,
        targets[0].root,
        base,
        dests,
        data,
        keys,
      );
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
        const folder = this.#d.folders.loaded(dests[i].folderPath);
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
        this.#d.usage.adjust(dests[i].root, size);
      }
      await Promise.all(dests.map((d) => syncDir(join(d.folderPath, sub))));
    } finally {
      // Left over after a copy to another file system or a failure.
      if (!srcGone) await Deno.remove(src).catch(() => {});
    }
    for (const s of stored) this.#d.notify(s.folderPath);
    return stored;
  }

  #isLoaded(folderPath: string): boolean {
    const folder = this.#d.folders.loaded(folderPath);
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
    const { background } = await deliverJournaled(journal, src, paths, data, this.#d.pool);
    const tracked = background.catch((e) => {
      // The record stays in the journal: the next start replays it (nothing is lost).
      log("store").error(`background sync of ${paths.join(", ")} failed: ${e}`);
    }).finally(() => this.#syncing.delete(tracked));
    this.#syncing.add(tracked);
    const stored: StoredMessage[] = [];
    for (const d of dests) {
      stored.push({ folderPath: d.folderPath, base });
      this.#spoolKeys(d.folderPath, base, data, keys);
      this.#d.usage.adjust(d.root, data.length);
    }
    if (this.#syncing.size > BACKGROUND_LIMIT) await tracked;
    for (const s of stored) this.#d.notify(s.folderPath);
    return stored;
  }

  /** Hands a delivered message's keys (or the bytes they come from) to the keys spool. */
  #spoolKeys(
    folderPath: string,
    base: string,
    data: Uint8Array | MessageContent,
    keys: () => string | null,
  ): void {
    if (!this.#d.hooks.messageKeys) return;
    if (!this.#d.keysSpool.computesLater) {
      const text = keys();
      if (text) this.#d.keysSpool.put(folderPath, base, text);
    } else if (data instanceof Uint8Array) {
      this.#d.keysSpool.put(folderPath, base, { bytes: data, whole: true });
    } else if (data.header) {
      this.#d.keysSpool.put(folderPath, base, { bytes: data.header, whole: false });
    }
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
    const dest = await this.#d.openFolder(root, folderName);
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
    if (!opts.move || !sameRoot) this.#d.usage.adjust(root, bytes);
    if (opts.move && !sameRoot) this.#d.usage.forgetFolder(source.path);
    this.#d.notify(dest.path);
    if (opts.move) this.#d.notify(source.path);
    return { uidValidity: dest.uidValidity, pairs };
  }
}
