/**
 * SORT and UID SORT (RFC 5256 §3, with DISPLAYFROM / DISPLAYTO of RFC 5957) and their
 * ESORT form (RFC 5267 §3: `SORT RETURN (MIN MAX COUNT ALL)`, answered with ESEARCH in
 * sort order), with CONTEXT=SORT's PARTIAL and UPDATE (RFC 5267 §4, search_context.ts).
 * The search part is SEARCH's (search.ts); the keys compared are the folder's stored
 * message keys (sort_index.ts), so no file is read once they are known.
 *
 * Choices, all within RFC 5256: strings compare in i;unicode-casemap form (upper case,
 * NFKD) by code point; a missing address or subject compares as ""; SIZE is the stored
 * file size; every tie is broken by sequence number, ascending even under REVERSE.
 */
import { type Args, bad, no } from "./args.ts";
import { type CommandSpec, SELECTED } from "./command_table.ts";
import type { Token } from "./parser.ts";
import { compareText, type MessageKeys } from "./message_keys.ts";
import { highestModSeq, runSearch } from "./search.ts";
import { parseSearchKeys, someKey } from "./search_keys.ts";
import { savedUids } from "./search_res.ts";
import type { Session } from "./session.ts";
import { folderKeys } from "./sort_index.ts";
import { esearchResponse, parseReturnOptions } from "./esearch.ts";
import { checkContextTag, openContext } from "./search_context.ts";
import type { MailboxView } from "./view.ts";

export type SortKey =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM"
  | "DISPLAYTO";

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

const KEYS = new Set<string>([
  "ARRIVAL",
  "CC",
  "DATE",
  "FROM",
  "SIZE",
  "SUBJECT",
  "TO",
  "DISPLAYFROM",
  "DISPLAYTO",
]);

/** sort-criteria (RFC 5256 §4, RFC 5957 §3): ["REVERSE"] key, at least one. */
export function parseSortCriteria(items: readonly Token[]): SortCriterion[] {
  const out: SortCriterion[] = [];
  let reverse = false;
  for (const t of items) {
    const v = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (v === "REVERSE" && !reverse) reverse = true;
    else if (KEYS.has(v)) {
      out.push({ key: v as SortKey, reverse });
      reverse = false;
    } else throw bad(`Invalid sort criterion ${v.slice(0, 30) || "(not an atom)"}`);
  }
  if (reverse || out.length === 0) throw bad("Incomplete sort criteria");
  return out;
}

/** CHARSET of SORT and THREAD: required, UTF-8 or US-ASCII (RFC 5256 §3). */
export function sortCharset(args: Args): void {
  const cs = args.astring("charset").toUpperCase();
  if (cs !== "UTF-8" && cs !== "US-ASCII") {
    throw no(`Charset ${cs.slice(0, 30)} is not supported`, "BADCHARSET (UTF-8 US-ASCII)");
  }
}

/** What the comparison of one message needs: its keys, internal date, size and number. */
export interface SortItem {
  seq: number;
  uid: number;
  keys: MessageKeys;
  arrival: number;
  size: number;
}

function value(it: SortItem, key: SortKey): string | number {
  const k = it.keys;
  switch (key) {
    case "ARRIVAL":
      return it.arrival;
    case "DATE":
      // RFC 5256 §3 DATE: the sent date, else INTERNALDATE.
      return k.sent ?? it.arrival;
    case "SIZE":
      return it.size;
    case "SUBJECT":
      return k.subject;
    case "FROM":
      return k.from;
    case "TO":
      return k.to;
    case "CC":
      return k.cc;
    case "DISPLAYFROM":
      return k.displayFrom;
    case "DISPLAYTO":
      return k.displayTo;
  }
}

/**
 * One criterion's values as numbers: dates and sizes as they are, strings as their rank
 * among the distinct values (sorted once), so the main sort compares numbers only.
 */
function column(items: SortItem[], key: SortKey): Float64Array {
  const out = new Float64Array(items.length);
  if (key === "ARRIVAL" || key === "DATE" || key === "SIZE") {
    for (let i = 0; i < items.length; i++) out[i] = value(items[i], key) as number;
    return out;
  }
  const rank = new Map<string, number>();
  for (const it of items) rank.set(value(it, key) as string, 0);
  const distinct = [...rank.keys()].sort(compareText);
  for (let r = 0; r < distinct.length; r++) rank.set(distinct[r], r);
  for (let i = 0; i < items.length; i++) out[i] = rank.get(value(items[i], key) as string)!;
  return out;
}

/**
 * The order of two items under the criteria, as sortItems orders them (ties by UID, which
 * within one mailbox view is the order of sequence numbers): a context keeps its result
 * sorted by it as messages come and go (search_context.ts).
 */
export function compareItems(
  a: SortItem,
  b: SortItem,
  criteria: readonly SortCriterion[],
): number {
  for (const c of criteria) {
    const x = value(a, c.key), y = value(b, c.key);
    const d = typeof x === "number" ? x - (y as number) : compareText(x, y as string);
    if (d !== 0) return c.reverse ? -d : d;
  }
  return a.uid - b.uid;
}

/** Sorts the items by the criteria (a pure function); ties go by sequence number. */
export function sortItems(items: SortItem[], criteria: readonly SortCriterion[]): SortItem[] {
  const columns = criteria.map((c) => column(items, c.key));
  const order = items.map((_, i) => i);
  order.sort((a, b) => {
    for (let c = 0; c < criteria.length; c++) {
      const d = columns[c][a] - columns[c][b];
      if (d !== 0) return criteria[c].reverse ? -d : d;
    }
    return items[a].seq - items[b].seq;
  });
  return order.map((i) => items[i]);
}

/**
 * The session's matches with what sorting and threading compare. A message expunged
 * while its file was read is left out.
 */
export async function sortItemsOf(
  view: MailboxView,
  found: [number, number][],
): Promise<SortItem[]> {
  const folder = view.folder;
  const entries = found.map(([, uid]) => view.entry(uid));
  const present = found.filter((_, i) => entries[i] !== undefined);
  const live = entries.filter((e) => e !== undefined);
  const keys = await folderKeys(folder).getAll(live);
  const items: SortItem[] = [];
  for (let i = 0; i < live.length; i++) {
    const k = keys[i];
    if (!k) continue;
    const e = live[i];
    const arrival = e.internalDate ?? await folder.internalDate(e).catch(() => 0);
    items.push({ seq: present[i][0], uid: present[i][1], keys: k, arrival, size: e.size });
  }
  return items;
}

async function sortCommand(s: Session, tag: string, args: Args, uid: boolean) {
  const ret = parseReturnOptions(args, "SORT");
  const criteria = parseSortCriteria(args.list("sort criteria"));
  sortCharset(args);
  const key = parseSearchKeys(args.rest());
  const modseq = someKey(key, (k) => k.op === "modseq");
  if (modseq) s.enableCondstore();
  const view = s.view!;
  // RFC 5267 §4.3: UPDATE under the tag of a live context is refused before anything runs.
  if (ret?.update) checkContextTag(view, tag);
  const saved = someKey(key, (k) => k.op === "saved") ? savedUids(view) : [];
  const sorted = sortItems(
    await sortItemsOf(view, await runSearch(s, key, { saved })),
    criteria,
  );
  const nums = sorted.map((it) => uid ? it.uid : it.seq);
  const top = modseq ? highestModSeq(view, sorted.map((it) => it.uid)) : null;
  if (ret === null) {
    const ms = top === null ? "" : ` (MODSEQ ${top})`;
    s.out.text(`* SORT${nums.map((n) => " " + n).join("")}${ms}\r\n`);
  } else {
    s.out.text(esearchResponse(tag, uid, ret, nums, top));
    if (ret.update) {
      openContext(s, { tag, uid, key, saved, criteria, fetch: ret.updateFetch }, sorted);
    }
  }
  return { text: "SORT completed" };
}

const sortSpec: CommandSpec = {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  run: (s, { tag, args, uid }) => sortCommand(s, tag, args, uid),
};

export const SORT_COMMANDS: Record<string, CommandSpec> = {
  SORT: sortSpec,
};
