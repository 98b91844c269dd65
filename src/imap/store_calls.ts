/**
 * Store calls made for a command, with the store's refusals as IMAP responses: a
 * mailbox name the store cannot map to a folder (FolderNameError) is NO [CANNOT]
 * (RFC 5530).
 */
import { FolderNameError } from "../store/maildir_names.ts";
import { no } from "./args.ts";
import type { Session } from "./session.ts";

export async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof FolderNameError) throw no(e.message, "CANNOT");
    throw e;
  }
}

/**
 * The target of APPEND, COPY or MOVE must exist; else NO [TRYCREATE], so the client
 * may CREATE it and try again (RFC 3501 §6.3.11, §6.4.7).
 */
export async function requireTarget(s: Session, name: string): Promise<void> {
  if (!(await storeCall(() => s.ctx.store.folderExists(s.root, name)))) {
    throw no("Mailbox doesn't exist", "TRYCREATE");
  }
}
