/**
 * A change to the directory as data. The directory (directory.ts) checks a request against
 * its in-memory state and describes the result as one `DirectoryChange`; the backend
 * stores it in one transaction and then hands it to every listener, which applies it to
 * its mirror (state.ts). With PostgreSQL the same change also goes into the change log,
 * from which every other node applies it the same way (postgres/follower.ts): one code
 * path for "changed here" and "changed on another node".
 *
 * Records are complete in a change (a user's whole new record, never a diff), so applying
 * one twice, or after a full re-read, does no harm.
 */
import type { DkimKey } from "../mailauth/keys.ts";
import type { AliasRecord, DenyEntry, ListRecord, UserRecord } from "./records.ts";

export type DirectoryChange =
  | { op: "domain.add"; name: string }
  /** The domain with its users, aliases and lists. */
  | { op: "domain.del"; name: string }
  | { op: "user.add"; user: UserRecord }
  /** The user's new record (USER MOD, a password re-hash). */
  | { op: "user.mod"; user: UserRecord }
  | { op: "user.del"; domain: string; name: string }
  | { op: "alias.add"; alias: AliasRecord }
  | { op: "alias.del"; domain: string; name: string }
  /** A new list, without members. */
  | { op: "list.add"; list: ListRecord }
  /** The list with its members. */
  | { op: "list.del"; domain: string; name: string }
  | { op: "member.add"; domain: string; list: string; mailbox: string }
  | { op: "member.del"; domain: string; list: string; mailbox: string }
  | { op: "deny.add"; entry: DenyEntry }
  | { op: "deny.del"; entries: readonly DenyEntry[] }
  /** DKIM keys are in the directory only when it is shared (PostgreSQL, SPEC §12). */
  | { op: "dkim.add"; key: DkimKey }
  | { op: "dkim.del"; domain: string; selector: string }
  /** Everything was replaced outside the change log (migrate-directory): read it all again. */
  | { op: "reload" };

/** Everything the directory holds, as read at open or at a full re-read. */
export interface DirectoryContent {
  domains: string[];
  users: UserRecord[];
  aliases: AliasRecord[];
  lists: ListRecord[];
  deny: DenyEntry[];
  /** Empty with SQLite: one machine keeps its keys as files (src/mailauth/keys.ts). */
  dkim: DkimKey[];
}

/** Who follows the directory: the directory's own mirror, the shared DKIM key store. */
export interface ChangeListener {
  /** A committed change, here or on another node, in commit order. */
  applied(change: DirectoryChange): void;
  /** Everything read again (a re-sync): replaces what the listener holds. */
  reloaded(content: DirectoryContent): void;
}

/**
 * Where the directory is stored: SQLite on one machine (sqlite.ts), PostgreSQL shared by
 * several (postgres/backend.ts). Chosen by the configuration key `Directory` (open.ts).
 */
export interface DirectoryBackend {
  /** "sqlite", or the PostgreSQL URL with its password hidden (for logs and summaries). */
  readonly description: string;
  /** True when several nodes share this directory (DKIM keys and the SRS secret live in it). */
  readonly shared: boolean;
  /** Everything stored, as read at open. */
  readonly initial: DirectoryContent;
  /** Adds a listener; every later change and re-read reaches it. */
  listen(listener: ChangeListener): void;
  /**
   * Stores the change that `plan` describes, in one transaction, then hands it to every
   * listener before it resolves. `plan` runs inside the transaction, after every change
   * committed before on any node has been applied, so the checks it makes against the
   * mirror see the latest state; it throws to refuse (nothing is stored) or returns null
   * when there is nothing to do. Durable when it resolves. Backend failures are
   * `DirectoryUnavailableError`s.
   */
  commit(plan: () => DirectoryChange | null): Promise<DirectoryChange | null>;
  /** Starts following changes made elsewhere (PostgreSQL; nothing to do for SQLite). */
  follow(): void;
  /**
   * A secret shared by every node (the SRS secret): the stored one, or `make()` stored
   * the first time. Null when this backend keeps no secrets (SQLite: files under DirBase).
   */
  sharedSecret(name: string, make: () => string): Promise<string | null>;
  close(): Promise<void>;
}
