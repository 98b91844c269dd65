/**
 * The NOTIFY command's arguments (RFC 5465 §8 ABNF) as a specification the session's
 * Notifier follows: what to report for the selected mailbox (SELECTED or
 * SELECTED-DELAYED) and for groups of other mailboxes (INBOXES, PERSONAL, SUBSCRIBED,
 * SUBTREE, MAILBOXES). Pure. The composition rules of §5 and §6.1 are client errors
 * (BAD); events this server cannot produce get NO [BADEVENT (...)] (§3.1).
 */
import { bad, mailboxName, no, tokenText } from "./args.ts";
import { type FetchItem, parseFetchItems } from "./fetch_items.ts";
import type { Token } from "./parser.ts";

/** The events this server can report (§5), as BADEVENT lists them. */
export const SUPPORTED_EVENTS = [
  "MessageNew",
  "MessageExpunge",
  "FlagChange",
  "MailboxName",
  "SubscriptionChange",
  "MailboxMetadataChange",
  "ServerMetadataChange",
];
const MESSAGE_EVENTS = ["MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange"];
const KNOWN_EVENTS = [...SUPPORTED_EVENTS, "AnnotationChange"];

export type MailboxFilter =
  | { kind: "inboxes" | "personal" | "subscribed" }
  | { kind: "subtree" | "mailboxes"; names: string[] };

export interface SelectedSpec {
  /** SELECTED-DELAYED: expunges wait for a command that allows them (§6.1). */
  delayed: boolean;
  /** MessageNew + MessageExpunge were asked for (they come together, §5). */
  messages: boolean;
  flags: boolean;
  /** MessageNew's fetch-atts: a FETCH of each new message follows its EXISTS (§5.2). */
  fetch: FetchItem[] | null;
}

export interface GroupSpec {
  filter: MailboxFilter;
  /** The events asked for this group, by their §5 names. */
  events: Set<string>;
}

export interface NotifySpec {
  /** STATUS indicator (§3.1): report every matching mailbox's state at once. */
  status: boolean;
  selected: SelectedSpec | null;
  groups: GroupSpec[];
}

function atomOf(t: Token | undefined): string {
  return t?.kind === "atom" ? t.value : "";
}

/** one-or-more-mailbox: a mailbox or a parenthesized list of them. */
function mailboxes(t: Token | undefined, utf8: boolean): string[] {
  if (!t) throw bad("Missing mailbox");
  const items = t.kind === "list" ? t.items : [t];
  if (items.length === 0) throw bad("Empty mailbox list");
  return items.map((i) => mailboxName(tokenText(i, "mailbox"), utf8));
}

/** One event group: "(" filter-mailboxes SP events ")". */
function group(
  t: Token,
  utf8: boolean,
): { selected: SelectedSpec | null; group: GroupSpec | null } {
  if (t.kind !== "list" || t.items.length < 2) throw bad("Expected an event group");
  const items = t.items;
  const word = atomOf(items[0]).toUpperCase();
  let filter: MailboxFilter | null = null;
  let i = 1;
  const selected = word === "SELECTED" || word === "SELECTED-DELAYED";
  if (word === "INBOXES" || word === "PERSONAL" || word === "SUBSCRIBED") {
    filter = { kind: word.toLowerCase() as "inboxes" | "personal" | "subscribed" };
  } else if (word === "SUBTREE" || word === "MAILBOXES") {
    filter = {
      kind: word.toLowerCase() as "subtree" | "mailboxes",
      names: mailboxes(items[1], utf8),
    };
    i = 2;
  } else if (!selected) throw bad(`Unknown mailbox filter ${word.slice(0, 30) || "(list)"}`);
  const evToken = items[i];
  if (items.length !== i + 1) throw bad("Expected one event list per group");
  const events = new Set<string>();
  let fetch: FetchItem[] | null = null;
  if (evToken.kind === "atom" && evToken.value.toUpperCase() === "NONE") {
    // "NONE": nothing about these mailboxes.
  } else {
    if (evToken.kind !== "list" || evToken.items.length === 0) throw bad("Empty event list");
    const unknown: string[] = [];
    for (let n = 0; n < evToken.items.length; n++) {
      const raw = atomOf(evToken.items[n]);
      const name = KNOWN_EVENTS.find((e) => e.toLowerCase() === raw.toLowerCase());
      if (!name) {
        if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(raw)) throw bad("Invalid event name");
        unknown.push(raw);
        continue;
      }
      events.add(name);
      const next = evToken.items[n + 1];
      if (name === "MessageNew" && next?.kind === "list") {
        // §8: the fetch attributes are only for the selected mailbox.
        if (!selected) throw bad("MessageNew fetch attributes need SELECTED or SELECTED-DELAYED");
        fetch = parseFetchItems(next);
        n++;
      }
    }
    if (events.has("MessageNew") !== events.has("MessageExpunge")) {
      throw bad("MessageNew and MessageExpunge must be specified together");
    }
    if ((events.has("FlagChange") || events.has("AnnotationChange")) && !events.has("MessageNew")) {
      throw bad("FlagChange and AnnotationChange require MessageNew and MessageExpunge");
    }
    if (selected && [...events].some((e) => !MESSAGE_EVENTS.includes(e))) {
      throw bad("Only message events can be used with SELECTED or SELECTED-DELAYED");
    }
    if (unknown.length > 0 || events.has("AnnotationChange")) {
      throw no("Unsupported NOTIFY events", `BADEVENT (${SUPPORTED_EVENTS.join(" ")})`);
    }
  }
  if (selected) {
    return {
      selected: {
        delayed: word === "SELECTED-DELAYED",
        messages: events.has("MessageNew"),
        flags: events.has("FlagChange"),
        fetch,
      },
      group: null,
    };
  }
  return { selected: null, group: { filter: filter!, events } };
}

/** NOTIFY's arguments: NONE (null), or SET [STATUS] event-groups. */
export function parseNotify(tokens: Token[], utf8: boolean): NotifySpec | null {
  const verb = atomOf(tokens[0]).toUpperCase();
  if (verb === "NONE") {
    if (tokens.length !== 1) throw bad("NOTIFY NONE takes no arguments");
    return null;
  }
  if (verb !== "SET") throw bad("Expected NOTIFY SET or NOTIFY NONE");
  let i = 1;
  const status = atomOf(tokens[1]).toUpperCase() === "STATUS";
  if (status) i++;
  if (i >= tokens.length) throw bad("NOTIFY SET needs at least one event group");
  const spec: NotifySpec = { status, selected: null, groups: [] };
  let sawSelected = false;
  for (; i < tokens.length; i++) {
    const g = group(tokens[i], utf8);
    if (g.group) spec.groups.push(g.group);
    else {
      if (sawSelected) throw bad("Only one SELECTED or SELECTED-DELAYED group is allowed");
      sawSelected = true;
      spec.selected = g.selected;
    }
  }
  return spec;
}

/** Whether a filter covers a mailbox; `subscribed` is the user's subscription list. */
export function filterMatches(
  f: MailboxFilter,
  name: string,
  subscribed: ReadonlySet<string>,
): boolean {
  switch (f.kind) {
    case "inboxes":
      // §6: the mailboxes mail is delivered to; here only INBOX.
      return name === "INBOX";
    case "personal":
      return true;
    case "subscribed":
      return subscribed.has(name);
    case "subtree":
      return f.names.some((n) => name === n || name.startsWith(n + "/"));
    case "mailboxes":
      return f.names.includes(name);
  }
}
