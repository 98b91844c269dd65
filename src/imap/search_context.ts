/**
 * CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4.3): a SEARCH or SORT with `RETURN (UPDATE)`
 * leaves a context behind, and the session reports how its result changes as messages
 * arrive, are expunged or change flags: unsolicited `* ESEARCH (TAG "t") ADDTO (...)` and
 * `REMOVEFROM (...)`, until the mailbox is deselected or CANCELUPDATE ends it (§4.3.5).
 *
 * - Positions (§4.3.3, §4.3.4): a SEARCH context uses position 0 with its numbers in
 *   mailbox order; a SORT context names where in the sorted result each run of messages
 *   is inserted or removed, so a client applying the pairs in order keeps the result
 *   sorted. Removals come before additions in one response.
 * - When (§4.3.3, §4.3.4, RFC 5465 §5 and §7): the REMOVEFROM for expunged messages goes
 *   just before their EXPUNGE (or VANISHED), the ADDTO for new messages after their EXISTS
 *   (and after the FETCH of NOTIFY's MessageNew), flag-driven changes after the FETCH
 *   that reports the flags. Updates are sent where this server sends its other unsolicited
 *   mailbox data: with a command's responses, during IDLE, and between commands when
 *   NOTIFY asks for the selected mailbox's events (session.ts sendSearchUpdates).
 * - What is evaluated: the messages whose flags changed and the new ones, against the key
 *   compiled again (new keywords, "*"); a key whose matches can change without the
 *   message changing (sequence numbers, "*" in a UID set, YOUNGER / OLDER) is evaluated
 *   over every message at each update. "$" keeps the value it had in the searching
 *   command.
 * - RFC 5465 §7: `UPDATE (fetch-att ...)` sends a FETCH of those attributes for each new
 *   message an update adds, before the ESEARCH (not for flag-driven additions).
 * - Limits (§4.3.1): MAX_CONTEXTS per session; past it the searching command answers as
 *   asked and adds `* NO [NOUPDATE "tag"]`.
 */
import { bad, formatSet } from "./args.ts";
import { SELECTED } from "./command_table.ts";
import type { CommandSpec } from "./command_table.ts";
import { esearchHead } from "./esearch.ts";
import type { FetchItem } from "./fetch_items.ts";
import { renderUnsolicited } from "./fetch_render.ts";
import { runSearch } from "./search.ts";
import { type Key, someKey } from "./search_keys.ts";
import type { Session } from "./session.ts";
import { compareItems, type SortCriterion, type SortItem, sortItemsOf } from "./sort.ts";
import type { MailboxView } from "./view.ts";
import { quoted } from "./wire.ts";

/** Updating contexts one session may hold (RFC 5267 §4.3.1: at least one). */
export const MAX_CONTEXTS = 8;

/** What a searching command leaves for its context. */
export interface ContextSpec {
  tag: string;
  uid: boolean;
  key: Key;
  /** The "$" the key was evaluated with. */
  saved: readonly number[];
  /** SORT: the sort criteria; null for SEARCH. */
  criteria: readonly SortCriterion[] | null;
  fetch: FetchItem[] | null;
}

interface Context extends ContextSpec {
  /** UIDs in the result as the client knows it. */
  members: Set<number>;
  /** SORT: the result in sort order. */
  order: SortItem[];
  /** Every message is evaluated again at each update (see above). */
  volatile: boolean;
}

/** One view's contexts and what changed since they were last brought up to date. */
class Contexts {
  readonly list: Context[] = [];
  readonly changed = new Set<number>();
  readonly added = new Set<number>();
  /** Messages were expunged: the numbering changed (volatile contexts look again). */
  renumbered = false;
}

const byView = new WeakMap<MailboxView, Contexts>();

function isVolatile(key: Key): boolean {
  return someKey(key, (k) =>
    k.op === "seq" || k.op === "within" ||
    (k.op === "uid" && k.ranges.some((r) => r.from === Infinity || r.to === Infinity)));
}

/** RFC 5267 §4.3: UPDATE under the tag of a live context is a BAD command. */
export function checkContextTag(view: MailboxView, tag: string): void {
  if (byView.get(view)?.list.some((c) => c.tag === tag)) {
    throw bad(`Tag ${tag.slice(0, 40)} already names an updating context`);
  }
}

/**
 * Keeps the result of a searching command with UPDATE: `result` is the UIDs found (SEARCH)
 * or the sorted items (SORT). Past MAX_CONTEXTS, `* NO [NOUPDATE]` and nothing is kept.
 */
export function openContext(
  s: Session,
  spec: ContextSpec,
  result: readonly number[] | readonly SortItem[],
): void {
  const view = s.view!;
  let c = byView.get(view);
  if (!c) byView.set(view, c = new Contexts());
  if (c.list.length >= MAX_CONTEXTS) {
    s.out.text(`* NO [NOUPDATE ${quoted(spec.tag)}] Too many updating contexts\r\n`);
    return;
  }
  const order = spec.criteria ? [...result as readonly SortItem[]] : [];
  const members = new Set<number>(
    spec.criteria ? order.map((it) => it.uid) : result as readonly number[],
  );
  c.list.push({ ...spec, members, order, volatile: isVolatile(spec.key) });
}

/** The view's contexts hooked into its sync (null when it has none: nothing to do). */
export function contextHooks(view: MailboxView): {
  beforeExpunge: (uids: number[]) => string;
  changes: (changed: number[], added: number[]) => void;
} | null {
  const c = byView.get(view);
  if (!c || c.list.length === 0) return null;
  return {
    beforeExpunge: (uids) => removeExpunged(view, c, uids),
    changes: (changed, added) => {
      for (const u of changed) c.changed.add(u);
      for (const u of added) c.added.add(u);
    },
  };
}

/** The number a client knows a message by in a context: its UID or sequence number. */
function numberOf(view: MailboxView, ctx: Context, uid: number): number {
  return ctx.uid ? uid : view.seqOf(uid);
}

/** §4.3.4: REMOVEFROM for members being expunged, sent while their numbers still hold. */
function removeExpunged(view: MailboxView, c: Contexts, uids: number[]): string {
  c.renumbered = true;
  for (const u of uids) {
    c.changed.delete(u);
    c.added.delete(u);
  }
  let out = "";
  for (const ctx of c.list) {
    const gone = uids.filter((u) => ctx.members.has(u));
    if (gone.length === 0) continue;
    out += `${esearchHead(ctx.tag, ctx.uid)} REMOVEFROM (${removeFrom(view, ctx, gone)})\r\n`;
  }
  return out;
}

/**
 * Takes `uids` out of the context; returns the REMOVEFROM payload. SORT: runs of adjacent
 * positions, the last run first, so each pair's position holds when it is applied.
 */
function removeFrom(view: MailboxView, ctx: Context, uids: number[]): string {
  for (const u of uids) ctx.members.delete(u);
  if (!ctx.criteria) {
    const nums = uids.map((u) => numberOf(view, ctx, u)).sort((a, b) => a - b);
    return `0 ${formatSet(nums)}`;
  }
  const doomed = new Set(uids);
  const at: number[] = [];
  ctx.order.forEach((it, i) => {
    if (doomed.has(it.uid)) at.push(i);
  });
  const pairs: string[] = [];
  for (let end = at.length; end > 0;) {
    let start = end - 1;
    while (start > 0 && at[start - 1] === at[start] - 1) start--;
    const run = at.slice(start, end).map((i) => numberOf(view, ctx, ctx.order[i].uid));
    pairs.push(`${at[start] + 1} ${formatSet(run)}`);
    end = start;
  }
  ctx.order = ctx.order.filter((it) => !doomed.has(it.uid));
  return pairs.join(" ");
}

/**
 * Adds sorted `items` to a SORT context; returns the ADDTO payload: runs of adjacent final
 * positions, first run first, each position counted with the earlier runs in place.
 */
function addTo(view: MailboxView, ctx: Context, items: SortItem[]): string {
  const criteria = ctx.criteria!;
  items.sort((a, b) => compareItems(a, b, criteria));
  const merged: SortItem[] = [];
  const at: number[] = [];
  let i = 0;
  for (const it of items) {
    while (i < ctx.order.length && compareItems(ctx.order[i], it, criteria) < 0) {
      merged.push(ctx.order[i++]);
    }
    at.push(merged.length);
    merged.push(it);
    ctx.members.add(it.uid);
  }
  while (i < ctx.order.length) merged.push(ctx.order[i++]);
  ctx.order = merged;
  const pairs: string[] = [];
  for (let start = 0; start < at.length;) {
    let end = start + 1;
    while (end < at.length && at[end] === at[end - 1] + 1) end++;
    const run = at.slice(start, end).map((p) => numberOf(view, ctx, merged[p].uid));
    pairs.push(`${at[start] + 1} ${formatSet(run)}`);
    start = end;
  }
  return pairs.join(" ");
}

/**
 * Brings every context of the selected mailbox up to date with what its syncs reported
 * since the last call, and writes the ESEARCH updates (with RFC 5465 §7 FETCHes first).
 */
/** Whether sendContextUpdates() has anything to send for the view (a cheap check first). */
export function contextUpdatesPending(view: MailboxView): boolean {
  const c = byView.get(view);
  return c !== undefined && c.list.length > 0 &&
    (c.changed.size > 0 || c.added.size > 0 || c.renumbered);
}

export async function sendContextUpdates(s: Session): Promise<void> {
  const view = s.view;
  const c = view ? byView.get(view) : undefined;
  if (!view || !c || c.list.length === 0) return;
  if (c.changed.size === 0 && c.added.size === 0 && !c.renumbered) return;
  const touched = new Set([...c.changed, ...c.added]);
  const added = new Set(c.added);
  c.changed.clear();
  c.added.clear();
  c.renumbered = false;
  const positions: number[] = [];
  for (const u of touched) {
    const seq = view.seqOf(u);
    if (seq > 0) positions.push(seq - 1);
  }
  positions.sort((a, b) => a - b);
  let everything: number[] | null = null;
  for (const ctx of [...c.list]) {
    const candidates = ctx.volatile ? everything ??= Array.from(view.uids.keys()) : positions;
    if (candidates.length === 0) continue;
    const hits = new Set(
      (await runSearch(s, ctx.key, { only: candidates, saved: ctx.saved })).map(([, u]) => u),
    );
    // A context cancelled or a view left while the search ran is not reported on.
    if (s.view !== view || !c.list.includes(ctx)) return;
    const leaving: number[] = [], joining: [number, number][] = [];
    for (const i of candidates) {
      const uid = view.uids[i];
      if (!view.entry(uid)) continue; // expunged, not reported yet: removed with its EXPUNGE
      const was = ctx.members.has(uid), now = hits.has(uid);
      if (was && !now) leaving.push(uid);
      else if (!was && now) joining.push([i + 1, uid]);
    }
    if (leaving.length === 0 && joining.length === 0) continue;
    let data = "";
    if (leaving.length) data += ` REMOVEFROM (${removeFrom(view, ctx, leaving)})`;
    if (joining.length) {
      if (ctx.criteria) {
        const items = await sortItemsOf(view, joining); // a message gone meanwhile: left out
        if (items.length) data += ` ADDTO (${addTo(view, ctx, items)})`;
      } else {
        for (const [, u] of joining) ctx.members.add(u);
        data += ` ADDTO (0 ${formatSet(joining.map(([seq, u]) => ctx.uid ? u : seq))})`;
      }
      if (ctx.fetch) {
        // RFC 5465 §7: the UPDATE's fetch attributes for messages joining the result.
        await renderUnsolicited(s, ctx.fetch, joining.filter(([, u]) => added.has(u)));
      }
    }
    if (data) s.out.text(esearchHead(ctx.tag, ctx.uid) + data + "\r\n");
  }
}

/** RFC 5267 §4.3.5 CANCELUPDATE "tag" ...: those contexts send no more updates. */
const cancelUpdateCommand: CommandSpec = {
  states: SELECTED,
  run(s, { args }) {
    const tags: string[] = [];
    while (args.more) tags.push(args.astring("tag"));
    if (tags.length === 0) throw bad("CANCELUPDATE needs the tag of a searching command");
    const c = byView.get(s.view!);
    for (const tag of tags) {
      if (!c?.list.some((ctx) => ctx.tag === tag)) {
        throw bad(`No updating context has tag ${tag.slice(0, 40)}`);
      }
    }
    for (const tag of tags) c!.list.splice(c!.list.findIndex((ctx) => ctx.tag === tag), 1);
    return Promise.resolve({ text: "CANCELUPDATE completed, no further updates" });
  },
};

export const CONTEXT_COMMANDS: Record<string, CommandSpec> = {
  CANCELUPDATE: cancelUpdateCommand,
};
