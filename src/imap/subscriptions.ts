/**
 * Subscriptions (RFC 3501 §6.3.6-6.3.9) kept in the Maildir++ root's `subscriptions`
 * file, one mailbox name per line (UTF-8, "/" delimiter), as Dovecot and Courier keep
 * theirs. A mailbox without the file is subscribed to INBOX and the special-use
 * folders, so clients showing "subscribed folders only" see them from the start.
 */
import { join } from "node:path";
import { readTextIfExists, writeFileAtomic } from "../store/fsutil.ts";
import { SPECIAL_FOLDERS } from "../store/mailstore.ts";

const FILE = "subscriptions";

export async function readSubscriptions(root: string): Promise<string[]> {
  const text = await readTextIfExists(join(root, FILE));
  if (text === null) return ["INBOX", ...SPECIAL_FOLDERS];
  const names: string[] = [];
  for (const line of text.split("\n")) {
    const name = line.replace(/\r$/, "");
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

export async function writeSubscriptions(root: string, names: readonly string[]): Promise<void> {
  const unique = [...new Set(names)];
  await writeFileAtomic(join(root, FILE), unique.map((n) => n + "\n").join(""));
}

/** Serializes changes per root so concurrent sessions do not lose each other's edits. */
const locks = new Map<string, Promise<unknown>>();

export function updateSubscriptions(
  root: string,
  change: (names: string[]) => string[],
): Promise<void> {
  const prev = locks.get(root) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(async () => {
    const names = await readSubscriptions(root);
    await writeSubscriptions(root, change(names));
  });
  locks.set(root, next);
  void next.finally(() => {
    if (locks.get(root) === next) locks.delete(root);
  }).catch(() => {});
  return next;
}
