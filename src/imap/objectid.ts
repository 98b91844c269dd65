/**
 * OBJECTID (RFC 8474): MAILBOXID, EMAILID and THREADID.
 *
 * - MAILBOXID (§4): a random id kept in the folder's own directory
 *   (`extremail-mailboxid`), so it follows the folder through RENAME and a new folder of
 *   an old name gets a new one. Created on first use; two sessions racing agree (the file
 *   is linked into place, never replaced).
 * - EMAILID (§5.1) and THREADID (§5.2) come from the message keys (message_keys.ts): a
 *   digest of the content, and of the thread's first message-id.
 */
import { join } from "node:path";
import { readTextIfExists, readTextIfExistsSync, syncDir } from "../store/fsutil.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { threadIdOf } from "./message_keys.ts";
import { folderKeys } from "./sort_index.ts";

export const MAILBOXID_FILE = "extremail-mailboxid";
/** objectid (RFC 8474 §7): 1 to 255 of ALPHA / DIGIT / "_" / "-". */
const OBJECTID = /^[A-Za-z0-9_-]{1,255}$/;

/** Whether `s` is a syntactically valid objectid (SEARCH EMAILID / THREADID arguments). */
export function isObjectId(s: string): boolean {
  return OBJECTID.test(s);
}

/** The folder's MAILBOXID when one was made before; null when not (yet). */
export function knownMailboxId(folderPath: string): string | null {
  // Read at every SELECT: see fsutil existsSync.
  const known = readTextIfExistsSync(join(folderPath, MAILBOXID_FILE))?.trim();
  return known && OBJECTID.test(known) ? known : null;
}

/** The folder's MAILBOXID, made (durably) the first time it is asked for. */
export async function mailboxId(folderPath: string): Promise<string> {
  const known = knownMailboxId(folderPath);
  if (known !== null) return known;
  const path = join(folderPath, MAILBOXID_FILE);
  const id = "F" + crypto.randomUUID().replaceAll("-", "");
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(id + "\n"));
    await file.sync();
  } finally {
    file.close();
  }
  try {
    await Deno.link(tmp, path);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    // Another session made it first: its id counts.
    await Deno.remove(tmp);
    const other = (await readTextIfExists(path))?.trim();
    if (other && OBJECTID.test(other)) return other;
    throw new Error(`unreadable ${path}`);
  }
  await Deno.remove(tmp);
  await syncDir(folderPath);
  return id;
}

/**
 * A message's EMAILID or THREADID, from its keys (its header read once if they are not
 * known); the EMAILID of keys taken from the header alone needs the whole file once, as
 * does the THREADID of a message naming no message-id (it derives from the EMAILID).
 */
export async function objectIdOf(
  folder: Folder,
  entry: MessageEntry,
  which: "emailId" | "threadId",
): Promise<string> {
  const keys = folderKeys(folder);
  const k = await keys.get(entry);
  if (which === "threadId") {
    const known = threadIdOf(k);
    if (known !== null) return known;
  }
  const emailId = await keys.emailId(entry);
  return which === "emailId" ? emailId : threadIdOf({ ...k, emailId })!;
}
