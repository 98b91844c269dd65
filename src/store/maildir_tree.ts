/**
 * Maildir++ folders on disk: creating one, listing a root's folders, and moving INBOX's
 * messages out (RENAME INBOX). MailStore adds what must go with them: dropping loaded
 * folders, usage counts and notifications.
 */
import { join } from "node:path";
import { ensureDirDurable, exists, syncDir } from "./fsutil.ts";
import { dirToFolder } from "./maildir_names.ts";

/** Creates a Maildir (tmp/, new/, cur/) durably; a sub-folder gets its marker file. */
export async function makeMaildir(path: string, isSubFolder = false): Promise<void> {
  await ensureDirDurable(path);
  for (const sub of ["tmp", "new", "cur"]) await ensureDirDurable(join(path, sub));
  // Maildir++ marks sub-folders with an empty "maildirfolder" file.
  if (isSubFolder && !(await exists(join(path, "maildirfolder")))) {
    await Deno.writeFile(join(path, "maildirfolder"), new Uint8Array());
    await syncDir(path);
  }
}

/** IMAP names of every folder under the root, INBOX first. */
export async function listFolderNames(root: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) {
      if (!e.isDirectory || !e.name.startsWith(".")) continue;
      const name = dirToFolder(e.name);
      if (name !== null) names.push(name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return ["INBOX", ...names.sort()];
}

/** Moves the messages of INBOX (the root) into the folder at `dst`, made if needed. */
export async function moveInboxMessages(root: string, dst: string): Promise<void> {
  await makeMaildir(dst, true);
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(root, sub))) {
      if (e.isFile) await Deno.rename(join(root, sub, e.name), join(dst, sub, e.name));
    }
  }
  await Promise.all([syncDir(join(dst, "new")), syncDir(join(dst, "cur"))]);
}
