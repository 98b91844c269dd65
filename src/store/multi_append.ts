/**
 * Storing several messages into one folder as one unit (IMAP MULTIAPPEND, RFC 3502 §3:
 * "all or none"): every message is first written and fsync'd under tmp/, then all are
 * moved into cur/ and given their UIDs in one batch (one UID list append and fsync).
 * If any write fails, the staged files are removed and nothing was stored; if placing
 * fails part-way, the messages already placed are expunged again before the error is
 * reported, so no client ever keeps a UID of a half-done append.
 */
import { join } from "node:path";
import type { MessageContent } from "./content.ts";
import type { AddItem } from "./folder/add.ts";
import { syncDir, writeAll } from "./fsutil.ts";
import type { MailStore } from "./mailstore.ts";
import { FolderNameError, newBaseName } from "./maildir_names.ts";

export interface AppendItem {
  /** In memory, or pieces of files (a large literal) copied in chunks. */
  data: Uint8Array | MessageContent;
  /** Maildir flag letters (keyword letters already allocated in the target folder). */
  flags: string;
  internalDate?: number;
}

const sizeOf = (data: Uint8Array | MessageContent) =>
  data instanceof Uint8Array ? data.length : data.size;

/** Writes one message under tmp/ durably; returns its path. */
async function stage(tmpDir: string, base: string, item: AppendItem): Promise<string> {
  const path = join(tmpDir, base);
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  try {
    if (item.data instanceof Uint8Array) await writeAll(file, item.data);
    else await item.data.writeTo(file);
    if (item.internalDate !== undefined) {
      // Before the fsync, so that it makes the internal date durable too.
      const when = new Date(item.internalDate);
      await file.utime(when, when);
    }
    await file.sync();
  } finally {
    file.close();
  }
  return path;
}

/** Appends `items` to `folderName` atomically; returns the UIDVALIDITY and the new UIDs. */
export async function appendAtomically(
  store: MailStore,
  root: string,
  folderName: string,
  items: readonly AppendItem[],
): Promise<{ uidValidity: number; uids: number[] }> {
  const folder = await store.openFolder(root, folderName);
  if (!folder) throw new FolderNameError(`mailbox "${folderName}" does not exist`);
  const tmpDir = join(root, "tmp");
  const adds: AddItem[] = items.map((item) => ({
    src: "",
    link: false,
    base: newBaseName(sizeOf(item.data)),
    flags: item.flags,
    size: sizeOf(item.data),
    internalDate: item.internalDate ?? null,
    keys: store.contentKeys(item.data),
  }));
  const staged: string[] = [];
  try {
    await Promise.all(adds.map(async (add, i) => {
      add.src = await stage(tmpDir, add.base, items[i]);
      staged.push(add.src);
    }));
  } catch (e) {
    await Promise.all(staged.map((p) => Deno.remove(p).catch(() => {})));
    throw e;
  }
  let uids: number[];
  try {
    uids = await folder.add(adds);
    if (uids.some((u) => u === 0)) {
      throw new Error("a staged message vanished before it was stored");
    }
  } catch (e) {
    // Undo what was placed: find it by base name (add() may have failed after placing some).
    const bases = new Set(adds.map((a) => a.base));
    const placed = [...folder.messages.values()].filter((m) => bases.has(m.base)).map((m) => m.uid);
    if (placed.length > 0) await folder.expunge(placed);
    await Promise.all(staged.map((p) => Deno.remove(p).catch(() => {})));
    throw e;
  }
  await syncDir(join(folder.path, "cur"));
  store.invalidateUsage(folder.path);
  store.notify(folder.path);
  return { uidValidity: folder.uidValidity, uids };
}
