/** Record types of the directory (SPEC §4 and §5). Sizes are bytes; 0 means no limit. */

export interface UserRecord {
  readonly name: string;
  readonly domain: string;
  /** Maildir root relative to DirBase, or "" for the hashed default location. */
  readonly dir: string;
  readonly passHash: string;
  readonly quota: number;
  readonly maxIn: number;
  readonly maxOut: number;
  /** Addresses incoming mail is forwarded to (empty: no forwarding). */
  readonly forward: readonly string[];
  /** With forwarding: also keep a local copy. */
  readonly keep: boolean;
  /** Address that receives a copy of every received message, or "". */
  readonly copy: string;
  readonly autoReply: boolean;
  readonly autoReplySubject: string;
  readonly autoReplyText: string;
  /** Second login name, unique on the server, or "". */
  readonly map: string;
  /**
   * SPEC §12: the node that holds the user's Maildir (a name of the `Nodes` key), or ""
   * on a single machine. Which node that is for this process: `homeOf` (src/cluster/home.ts).
   */
  readonly node: string;
}

export interface AliasRecord {
  /** Local part, or "*" for the domain's catch-all. */
  readonly name: string;
  readonly domain: string;
  readonly forward: readonly string[];
}

export type ListAccess = "PUBLIC" | "MEMBERS";

export interface ListRecord {
  readonly name: string;
  readonly domain: string;
  readonly access: ListAccess;
  readonly members: readonly string[];
}

export const DENY_KINDS = [
  "IPIN",
  "IPOUT",
  "DOMAININ",
  "DOMAINOUT",
  "MAILBOXIN",
  "MAILBOXOUT",
] as const;
export type DenyKind = typeof DENY_KINDS[number];

export interface DenyEntry {
  readonly kind: DenyKind;
  readonly value: string;
}

/** What a local address resolves to, for the SMTP recipient logic. */
export type LocalTarget =
  | { kind: "user"; user: UserRecord }
  | { kind: "alias"; alias: AliasRecord }
  | { kind: "list"; list: ListRecord }
  | { kind: "catchall"; alias: AliasRecord }
  | { kind: "unknown" };

/** Thrown by directory mutations for bad input; the message is safe for the admin client. */
export class DirectoryError extends Error {}

/**
 * The directory's database cannot be reached or failed (PostgreSQL down): the message says
 * so and whether the change was made; the mail services go on with the in-memory mirror.
 */
export class DirectoryUnavailableError extends DirectoryError {}
