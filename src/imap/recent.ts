/**
 * \Recent for messages that arrive by APPEND, COPY or MOVE (RFC 3501 §2.3.2: the first
 * session to be notified of a message sees it as \Recent). Deliveries get it from the
 * Maildir itself (`new/`, claimed by Folder.claimRecent); these land in `cur/` with
 * their flags, so the claim is kept here, per folder, for this process's life.
 */

const unclaimed = new Map<string, Set<number>>();
/** A folder nobody selects (Sent, with a client that only appends) keeps at most this many. */
const MAX_PER_FOLDER = 10_000;

/** Records new UIDs of a folder as not yet seen by any session. */
export function markRecent(folderPath: string, uids: Iterable<number>): void {
  let set = unclaimed.get(folderPath);
  if (!set) unclaimed.set(folderPath, set = new Set());
  for (const uid of uids) set.add(uid);
  for (const old of set) {
    if (set.size <= MAX_PER_FOLDER) break;
    set.delete(old);
  }
}

/** Drops the marks of a deleted or renamed folder (and its children). */
export function forgetRecent(folderPath: string): void {
  for (const path of [...unclaimed.keys()]) {
    if (path === folderPath || path.startsWith(folderPath + ".")) unclaimed.delete(path);
  }
}

/** Takes the folder's unclaimed UIDs (a selecting session makes them its \Recent). */
export function claimMarked(folderPath: string): number[] {
  const set = unclaimed.get(folderPath);
  if (!set) return [];
  unclaimed.delete(folderPath);
  return [...set];
}

/** The unclaimed UIDs without taking them (EXAMINE shows \Recent, RFC 3501 §6.3.2). */
export function peekMarked(folderPath: string): ReadonlySet<number> {
  return unclaimed.get(folderPath) ?? new Set();
}

/**
 * How many messages of a folder are \Recent for nobody yet (STATUS RECENT, RFC 3501
 * §6.3.10): files still in new/ and present messages marked by APPEND, COPY or MOVE.
 */
export function unclaimedCount(
  folderPath: string,
  inNew: number,
  present: (uid: number) => "new" | "cur" | undefined,
): number {
  let n = inNew;
  for (const uid of unclaimed.get(folderPath) ?? []) if (present(uid) === "cur") n++;
  return n;
}
