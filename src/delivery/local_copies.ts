/**
 * Storing a delivery's local copies (route.ts): each recipient's Maildir made when it
 * is not known to exist yet, the quarantine/spam folder made again when it was deleted,
 * then one store.deliver for the whole group (written and fsync'd once, hard-linked into
 * every mailbox: SPEC §7). Split from route.ts: the mailbox side of a delivery apart from
 * running the plan.
 */
import type { UserRecord } from "../directory/records.ts";
import type { ServerContext } from "../server/context.ts";
import type { MessageContent } from "../store/content.ts";
import type { MailStore } from "../store/mailstore.ts";
import { FolderNameError } from "../store/maildir_names.ts";

// Mailbox roots known to exist, valid while the directory does not change (a user
// deleted and re-added gets its Maildir created again).
const ensured = new WeakMap<MailStore, { generation: number; roots: Set<string> }>();

async function ensureMailboxes(ctx: ServerContext, roots: string[]): Promise<void> {
  let known = ensured.get(ctx.store);
  if (!known || known.generation !== ctx.directory.generation) {
    known = { generation: ctx.directory.generation, roots: new Set() };
    ensured.set(ctx.store, known);
  }
  const k = known;
  await Promise.all(
    roots.filter((r) => !k.roots.has(r)).map(async (r) => {
      await ctx.store.ensureMailbox(r);
      k.roots.add(r);
    }),
  );
}

/** Stores one copy of `data` in each user's INBOX, or in `folder` (Junk) when given. */
export async function deliverLocal(
  ctx: ServerContext,
  users: UserRecord[],
  data: Uint8Array | MessageContent,
  folder?: string,
): Promise<void> {
  const roots = users.map((u) => ctx.store.userRoot(u));
  await ensureMailboxes(ctx, roots);
  if (folder) {
    // Junk (SPEC §8 quarantine, §9 spam) may have been deleted over IMAP: made again.
    await Promise.all(roots.map(async (root) => {
      if (await ctx.store.folderExists(root, folder)) return;
      await ctx.store.createFolder(root, folder).catch((e) => {
        if (!(e instanceof FolderNameError)) throw e; // made meanwhile by another delivery
      });
    }));
  }
  // One call: written and fsync'd once, hard-linked into every mailbox (SPEC §7).
  await ctx.store.deliver(roots.map((root) => (folder ? { root, folder } : { root })), data);
}
