/**
 * USER MOVE's second pass carries what changed at the old home after the first pass:
 * new messages (sent whole, as in the first pass), flag changes and expunges of
 * messages the first pass already sent (sent as differences, not as the messages
 * again). Differences, not states: the user may already be changing the same messages
 * at the new home (its sessions move there at the switch), and applying "\Seen added"
 * keeps those changes where restating the old home's whole flag list would undo them.
 *
 * A message is known by its Maildir base name at the old home and by its UID at the new
 * one: a move writes into fresh folders, which keep the source's UIDVALIDITY and UIDs
 * (src/import/target.ts), so a difference is applied only when the folder there still
 * has the source's UIDVALIDITY.
 */
import { join } from "node:path";
import type { MailStore } from "../store/mailstore.ts";
import { syncDir } from "../store/fsutil.ts";
import type { SourceUidState } from "../import/target.ts";

/** What a pass sent of one message: its UID at the source and its flags then. */
export interface SentMessage {
  uid: number | null;
  flags: readonly string[];
}

/** What a pass sent of one folder. */
export interface SentFolder {
  uids: SourceUidState | null;
  /** By Maildir base name. */
  messages: Map<string, SentMessage>;
}

/** What a pass sent, by folder name. */
export type SentRecord = Map<string, SentFolder>;

/** A message's flag difference, by its UID. */
export interface FlagChange {
  uid: number;
  add: string[];
  remove: string[];
}

/** A message as the second pass finds it at the old home. */
export interface CurrentMessage {
  path: string;
  base: string;
  uid: number | null;
  flags: readonly string[];
}

/** How the second pass treats one folder's messages. */
export interface FolderDelta {
  /** Messages to send whole (new since the first pass, or not identifiable by UID). */
  send: CurrentMessage[];
  flagChanges: FlagChange[];
  /** UIDs the first pass sent that the old home no longer has. */
  expunged: number[];
}

/**
 * Compares a folder now with what the first pass sent of it (`before`, undefined: the
 * folder is new). Pure.
 */
export function folderDelta(
  before: SentFolder | undefined,
  uidsNow: SourceUidState | null,
  now: readonly CurrentMessage[],
): FolderDelta {
  const delta: FolderDelta = { send: [], flagChanges: [], expunged: [] };
  const sameUids = before !== undefined && before.uids !== null && uidsNow !== null &&
    before.uids.uidValidity === uidsNow.uidValidity;
  const seen = new Set<string>();
  for (const m of now) {
    seen.add(m.base);
    const sent = before?.messages.get(m.base);
    if (!sent || !sameUids || sent.uid === null || sent.uid !== m.uid) {
      delta.send.push(m);
      continue;
    }
    const had = new Set(sent.flags);
    const has = new Set(m.flags);
    const add = [...has].filter((f) => !had.has(f));
    const remove = [...had].filter((f) => !has.has(f));
    if (add.length || remove.length) delta.flagChanges.push({ uid: sent.uid, add, remove });
  }
  if (before && sameUids) {
    for (const [base, sent] of before.messages) {
      if (!seen.has(base) && sent.uid !== null) delta.expunged.push(sent.uid);
    }
  }
  return delta;
}

/**
 * At the new home: applies flag changes and expunges to `folderName` durably, if the
 * folder still has the source's UIDVALIDITY; returns how many messages changed, or
 * null when the folder's UIDs are not the source's (nothing applied).
 */
export async function applyDelta(
  store: MailStore,
  root: string,
  folderName: string,
  source: SourceUidState | null,
  flagChanges: readonly FlagChange[],
  expunged: readonly number[],
): Promise<number | null> {
  const folder = await store.openFolder(root, folderName);
  if (!folder || !source) return null;
  await folder.refresh(true);
  if (folder.uidValidity !== source.uidValidity) return null;
  let changed = 0;
  for (const c of flagChanges) {
    const entry = folder.messages.get(c.uid);
    if (!entry) continue; // expunged at the new home meanwhile
    const names = new Set(folder.flagNames(entry));
    for (const f of c.add) names.add(f);
    for (const f of c.remove) names.delete(f);
    const letters = await folder.lettersFor([...names]);
    const r = await folder.updateFlags([c.uid], () => letters);
    changed += r.changed.length;
  }
  // A flag change is a rename in cur/ (and new/): made durable before the answer.
  if (changed > 0) await syncDir(join(folder.path, "cur"));
  if (expunged.length > 0) changed += (await folder.expunge(expunged)).length; // durable
  if (changed > 0) store.notify(folder.path);
  return changed;
}
