/**
 * The command table (RFC 3501 §6, RFC 9051 §6): each command declares the session
 * states that allow it, whether it has a UID form, and whether untagged EXPUNGE may
 * follow it (RFC 3501 §7.4.1: not after FETCH, STORE or SEARCH by sequence number).
 * Each command family exports its entries; commands.ts puts them in one table, which
 * every session receives.
 */
import type { Args } from "./args.ts";
import type { Session } from "./session.ts";

export type SessionState = "notauth" | "auth" | "selected" | "logout";

/** What a handler returns for the tagged OK: text and an optional response code. */
export interface Done {
  text: string;
  code?: string;
  /** The handler already sent its tagged reply (STARTTLS, a dropped AUTHENTICATE). */
  silent?: boolean;
}

export interface CommandCall {
  tag: string;
  /** Upper-cased command name ("FETCH" for both FETCH and UID FETCH). */
  name: string;
  uid: boolean;
  args: Args;
}

export interface CommandSpec {
  states: readonly SessionState[];
  /** Accepts the UID prefix (RFC 3501 §6.4.8, RFC 4315 UID EXPUNGE, RFC 6851 UID MOVE). */
  uid?: boolean;
  /** Sequence-number form must not be followed by untagged EXPUNGE. */
  noExpunge?: boolean;
  /** A Done without a promise when nothing had to wait (FETCH of one message in place). */
  run(s: Session, call: CommandCall): Promise<Done> | Done;
}

/** Command name (upper case) -> its specification. */
export type CommandTable = ReadonlyMap<string, CommandSpec>;

export const ANY: readonly SessionState[] = ["notauth", "auth", "selected"];
export const AUTHED: readonly SessionState[] = ["auth", "selected"];
export const SELECTED: readonly SessionState[] = ["selected"];
export const NOT_AUTHED: readonly SessionState[] = ["notauth"];
