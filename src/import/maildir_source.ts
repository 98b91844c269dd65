/**
 * Reading a Maildir tree to import (SPEC §11): Dovecot, Courier, mutt or our own.
 *
 * - Folders: the root is INBOX; Maildir++ sub-folders are `.a.b` directories (modified
 *   UTF-7 levels separated by "."), as Dovecot, Courier and we keep them; plain
 *   sub-directories that are Maildirs (mutt, Dovecot's LAYOUT=fs) are folders too.
 * - Messages: the files in cur/ and new/ (a file in both, caught mid-move: cur/ wins);
 *   flags from the info suffix, keywords through `dovecot-keywords` or Courier's
 *   `courierimapkeywords/`; INTERNALDATE is the file's mtime.
 * - UIDs from our `extremail-uidlist`, Dovecot's `dovecot-uidlist` or Courier's
 *   `courierimapuiddb` (the first found); messages come sorted by source UID, files
 *   without an entry last (by name, which starts with the delivery time).
 * - Subscriptions from `subscriptions` (Dovecot, ours) or `courierimapsubscribed`.
 */
import { join } from "node:path";
import { readUidList } from "../store/folder/uidlist.ts";
import { dirToFolder } from "../store/maildir_names.ts";
import { toCrlf } from "../message/line_endings.ts";
import { maildirBase, parseUidList, type SourceUids } from "./source_uids.ts";
import {
  applyCourierKeywordUpdates,
  type CourierKeywordUpdate,
  maildirFlags,
  parseCourierKeywordList,
  parseDovecotKeywords,
} from "./source_keywords.ts";
import { parseCourierSubscriptions, parseDovecotSubscriptions } from "./source_subscriptions.ts";

export interface SourceFolder {
  /** Our IMAP name ("/" delimiter, UTF-8). */
  name: string;
  path: string;
}

export interface SourceMessage {
  path: string;
  /** The Maildir base name (the file name without its info suffix). */
  base: string;
  flags: string[];
  uid: number | null;
  /** Size from the file name (",S="), for progress only; null when it has none. */
  sizeHint: number | null;
}

export interface SourceFolderContent {
  uids: { uidValidity: number; nextUid: number } | null;
  messages: SourceMessage[];
  /** Things worth telling the administrator (unreadable list lines...). */
  notes: string[];
}

/** Names in a Maildir that are not folders of their own. */
const NOT_FOLDERS = new Set(["cur", "new", "tmp", "courierimapkeywords"]);

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

const isMaildir = async (path: string) =>
  (await isDir(join(path, "cur"))) && (await isDir(join(path, "new")));

/** The folders of a Maildir tree, INBOX first; throws when `root` holds no Maildir. */
export async function findFolders(root: string): Promise<SourceFolder[]> {
  const found: SourceFolder[] = [];
  if (await isMaildir(root)) found.push({ name: "INBOX", path: root });
  const walk = async (dir: string, prefix: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (NOT_FOLDERS.has(e.name) || e.name === "." || e.name === "..") continue;
      const path = join(dir, e.name);
      if (!(e.isDirectory || (e.isSymlink && await isDir(path)))) continue;
      if (e.name.startsWith(".")) {
        // Maildir++ sub-folders live at the root only.
        const name = prefix === "" ? dirToFolder(e.name) : null;
        if (name !== null && await isMaildir(path)) found.push({ name, path });
        continue;
      }
      const name = prefix + e.name;
      if (await isMaildir(path)) found.push({ name: name === "inbox" ? "INBOX" : name, path });
      await walk(path, name + "/");
    }
  };
  await walk(root, "");
  if (found.length === 0) throw new Error(`no Maildir (a directory with cur/ and new/) in ${root}`);
  const inbox = found.filter((f) => f.name === "INBOX").slice(0, 1);
  return [...inbox, ...found.filter((f) => f.name !== "INBOX")];
}

/** The folder's UID list: ours, Dovecot's or Courier's (the first that exists). */
async function sourceUids(path: string, notes: string[]): Promise<SourceUids | null> {
  const ours = await readUidList(path);
  if (ours) return { ...ours, nextUid: ours.uidNext, badLines: 0 };
  for (const file of ["dovecot-uidlist", "courierimapuiddb"]) {
    const text = await readText(join(path, file));
    if (text === null) continue;
    const list = parseUidList(text);
    if (!list) notes.push(`${join(path, file)}: format not recognised, new UIDs are given`);
    else if (list.badLines > 0) {
      notes.push(`${join(path, file)}: ${list.badLines} unreadable lines ignored`);
    }
    return list;
  }
  return null;
}

/** Courier's keywords by base name (`courierimapkeywords/`), empty when there are none. */
async function courierKeywords(path: string): Promise<Map<string, string[]>> {
  const dir = join(path, "courierimapkeywords");
  const list = await readText(join(dir, ":list"));
  const byBase = list === null ? new Map<string, string[]>() : parseCourierKeywordList(list);
  if (!(await isDir(dir))) return byBase;
  const updates: CourierKeywordUpdate[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || e.name === ":list") continue;
    const text = await readText(join(dir, e.name));
    if (text !== null) updates.push({ name: e.name, text });
  }
  return applyCourierKeywordUpdates(byBase, updates);
}

/** The messages of one source folder with their flags and source UIDs, in UID order. */
export async function readFolder(path: string): Promise<SourceFolderContent> {
  const notes: string[] = [];
  const uids = await sourceUids(path, notes);
  const dovecotKeywords = parseDovecotKeywords(
    (await readText(join(path, "dovecot-keywords"))) ?? "",
  );
  const courier = await courierKeywords(path);
  const byBase = new Map<string, { path: string; name: string }>();
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(path, sub))) {
      if (!e.isFile || e.name.startsWith(".")) continue;
      byBase.set(maildirBase(e.name), { path: join(path, sub, e.name), name: e.name });
    }
  }
  const messages: SourceMessage[] = [];
  for (const [base, f] of byBase) {
    const flags = new Set(maildirFlags(f.name, dovecotKeywords));
    for (const k of courier.get(base) ?? []) flags.add(k);
    const size = /,S=(\d+)/.exec(base);
    messages.push({
      path: f.path,
      base,
      flags: [...flags],
      uid: uids?.byBase.get(base) ?? null,
      sizeHint: size ? Number(size[1]) : null,
    });
  }
  messages.sort((a, b) => {
    if (a.uid !== null && b.uid !== null) return a.uid - b.uid;
    if (a.uid !== null || b.uid !== null) return a.uid !== null ? -1 : 1;
    return a.base < b.base ? -1 : a.base > b.base ? 1 : 0;
  });
  return {
    uids: uids ? { uidValidity: uids.uidValidity, nextUid: uids.nextUid } : null,
    messages,
    notes,
  };
}

/**
 * A message file's bytes as the store keeps them (CRLF) and its mtime (INTERNALDATE).
 * Synchronous: a small file read from the page cache costs less than a thread hand-off,
 * and the previous batch's fsyncs go on meanwhile.
 */
export function readMessage(path: string): { data: Uint8Array; internalDate: number | null } {
  const file = Deno.openSync(path, { read: true });
  try {
    const st = file.statSync();
    const data = new Uint8Array(st.size);
    let off = 0;
    while (off < data.length) {
      const n = file.readSync(data.subarray(off));
      if (n === null) break;
      off += n;
    }
    // Maildir files never change once delivered; one that shrank meanwhile is cut.
    const bytes = off < data.length ? data.subarray(0, off) : data;
    return { data: toCrlf(bytes), internalDate: st.mtime?.getTime() ?? null };
  } finally {
    file.close();
  }
}

/** The source's subscriptions as our mailbox names; null when it has no such file. */
export async function readSubscriptions(
  root: string,
  folders: readonly string[],
): Promise<string[] | null> {
  const dovecot = await readText(join(root, "subscriptions"));
  if (dovecot !== null) return parseDovecotSubscriptions(dovecot, folders);
  const courier = await readText(join(root, "courierimapsubscribed"));
  return courier === null ? null : parseCourierSubscriptions(courier);
}
