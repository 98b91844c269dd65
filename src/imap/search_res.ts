/**
 * SEARCHRES (RFC 5182, RFC 9051 §6.4.4.1): the search result variable that
 * `SEARCH RETURN (SAVE)` fills and "$" refers to in later commands.
 *
 * The variable belongs to the selected mailbox's view, so a SELECT or EXAMINE (which makes
 * a new view) starts with the empty sequence. It holds UIDs: expunged messages drop out
 * by themselves (they are no longer in the view) and new messages never join it.
 */
import { formatSet } from "./args.ts";
import type { Token } from "./parser.ts";
import type { MailboxView } from "./view.ts";

const saved = new WeakMap<MailboxView, readonly number[]>();

/** Sets the variable (UIDs in ascending order). */
export function saveResult(view: MailboxView, uids: readonly number[]): void {
  saved.set(view, uids);
}

/** The saved UIDs still in the view, ascending. */
export function savedUids(view: MailboxView): number[] {
  const uids = saved.get(view);
  if (!uids || uids.length === 0) return [];
  const live = uids.filter((u) => view.seqOf(u) > 0 && view.entry(u) !== undefined);
  if (live.length !== uids.length) saved.set(view, live);
  return live;
}

/** Commands whose first argument is a sequence set (a UID set for UID EXPUNGE). */
const TAKES_SET = new Set(["FETCH", "STORE", "COPY", "MOVE"]);

/**
 * "$" as a command's message set (RFC 5182 §2.1): replaced by the saved messages, as
 * sequence numbers or (UID commands) UIDs. An empty variable leaves "$" in place, which
 * parseSequenceSet reads as the empty set: the command then matches no message and
 * completes with OK. SEARCH reads "$" itself (search_keys.ts).
 */
export function expandSavedSet(
  view: MailboxView | null,
  name: string,
  uid: boolean,
  tokens: Token[],
): Token[] {
  const first = tokens[0];
  if (!view || first?.kind !== "atom" || first.value !== "$") return tokens;
  if (!TAKES_SET.has(name) && !(uid && name === "EXPUNGE")) return tokens;
  const uids = savedUids(view);
  if (uids.length === 0) return tokens;
  const nums = uid ? uids : uids.map((u) => view.seqOf(u));
  return [{ kind: "atom", value: formatSet(nums) }, ...tokens.slice(1)];
}
