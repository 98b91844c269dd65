/**
 * The result options of SEARCH and SORT and the ESEARCH response that carries their
 * answer: RFC 4731 (MIN MAX COUNT ALL), RFC 5182 (SAVE, SEARCH only), RFC 5267 §3 (ESORT:
 * the same options for SORT, values in sort order) and §4 (CONTEXT=SEARCH / CONTEXT=SORT:
 * CONTEXT, UPDATE, PARTIAL), with the fetch attributes RFC 5465 §7 lets UPDATE carry.
 * Pure: parsing and formatting only.
 */
import { type Args, bad, formatSet } from "./args.ts";
import { type FetchItem, parseFetchItems } from "./fetch_items.ts";
import { quoted } from "./wire.ts";

export interface ReturnOptions {
  min: boolean;
  max: boolean;
  count: boolean;
  all: boolean;
  /** RFC 5182 SAVE (SEARCH only). */
  save: boolean;
  /** RFC 5267 §4.4 PARTIAL: results `from` to `to` (1-based, inclusive). */
  partial: { from: number; to: number } | null;
  /** RFC 5267 §4.3 UPDATE: keep the result and report its changes (ADDTO / REMOVEFROM). */
  update: boolean;
  /** RFC 5465 §7: FETCH attributes sent for messages an update adds. */
  updateFetch: FetchItem[] | null;
}

/** The options `RETURN ()` stands for: ALL. */
export const RETURN_ALL: ReturnOptions = {
  min: false,
  max: false,
  count: false,
  all: true,
  save: false,
  partial: null,
  update: false,
  updateFetch: null,
};

/** partial-range (RFC 5267 §5): nz-number ":" nz-number, either order, no "*". */
function parsePartialRange(text: string): { from: number; to: number } {
  const m = /^([1-9][0-9]{0,9}):([1-9][0-9]{0,9})$/.exec(text);
  const a = m ? Number(m[1]) : 0, b = m ? Number(m[2]) : 0;
  if (!m || a > 0xffffffff || b > 0xffffffff) {
    throw bad(`Invalid PARTIAL range ${text.slice(0, 30)}`);
  }
  return { from: Math.min(a, b), to: Math.max(a, b) };
}

/**
 * search-return-opts (RFC 4466 §2.6, RFC 4731 §3.1, RFC 5267 §4 and §5, RFC 5465 §8):
 * null when there is no RETURN; `RETURN ()` means ALL. CONTEXT is a hint and changes
 * nothing (§4.2). A command may hold one PARTIAL or one ALL, not both (§4.4).
 */
export function parseReturnOptions(args: Args, command: "SEARCH" | "SORT"): ReturnOptions | null {
  if (args.peekAtom() !== "RETURN") return null;
  args.atom("RETURN");
  const items = args.list("return options");
  const o: ReturnOptions = {
    min: false,
    max: false,
    count: false,
    all: items.length === 0,
    save: false,
    partial: null,
    update: false,
    updateFetch: null,
  };
  for (let i = 0; i < items.length; i++) {
    const t = items[i];
    const v = t.kind === "atom" ? t.value.toUpperCase() : "";
    const next = items[i + 1];
    switch (v) {
      case "MIN":
      case "MAX":
      case "COUNT":
      case "ALL":
        o[v.toLowerCase() as "min" | "max" | "count" | "all"] = true;
        break;
      case "SAVE":
        if (command !== "SEARCH") throw bad("SAVE is a SEARCH return option");
        o.save = true;
        break;
      case "CONTEXT":
        break;
      case "PARTIAL":
        if (o.partial) throw bad("PARTIAL may be given once");
        if (next?.kind !== "atom") throw bad("PARTIAL needs a range");
        o.partial = parsePartialRange(next.value);
        i++;
        break;
      case "UPDATE":
        if (o.update) throw bad("UPDATE may be given once");
        o.update = true;
        if (next?.kind === "list") {
          o.updateFetch = parseFetchItems(next);
          i++;
        }
        break;
      default:
        throw bad(`Unknown ${command} return option ${v.slice(0, 20)}`);
    }
  }
  if (o.partial && o.all) throw bad("PARTIAL and ALL cannot be combined");
  return o;
}

/**
 * The matches a result stands for: what SAVE stores (RFC 9051 §6.4.4.1, RFC 5182 §2.4)
 * and what the MODSEQ result covers (RFC 7162 §3.5). With MIN and/or MAX and no other
 * result option, only those messages; otherwise every match.
 */
export function reported<T>(o: ReturnOptions | null, found: T[]): T[] {
  if (!o || o.all || o.count || o.partial || (!o.min && !o.max)) return found;
  if (found.length === 0) return [];
  const out: T[] = [];
  if (o.min) out.push(found[0]);
  if (o.max && (!o.min || found.length > 1)) out.push(found[found.length - 1]);
  return out;
}

/** "* ESEARCH (TAG "t")" with " UID" for UID commands: the start of every ESEARCH line. */
export function esearchHead(tag: string, uid: boolean): string {
  return `* ESEARCH (TAG ${quoted(tag)})${uid ? " UID" : ""}`;
}

/**
 * The ESEARCH response for `nums` (RFC 4731 §3.1, RFC 5267 §3.2 and §4.4): ascending for
 * SEARCH, in sort order for SORT (formatSet makes ranges only of ascending runs, so the
 * order survives). PARTIAL carries the range asked for and NIL when no
 * result falls in it.
 */
export function esearchResponse(
  tag: string,
  uid: boolean,
  o: ReturnOptions,
  nums: readonly number[],
  modseq: number | null,
): string {
  let line = esearchHead(tag, uid);
  if (nums.length > 0) {
    if (o.min) line += ` MIN ${nums[0]}`;
    if (o.max) line += ` MAX ${nums[nums.length - 1]}`;
  }
  if (o.count) line += ` COUNT ${nums.length}`;
  if (o.all && nums.length > 0) line += ` ALL ${formatSet(nums)}`;
  if (o.partial) {
    const part = nums.slice(o.partial.from - 1, o.partial.to);
    line += ` PARTIAL (${o.partial.from}:${o.partial.to} ${part.length ? formatSet(part) : "NIL"})`;
  }
  if (modseq !== null) line += ` MODSEQ ${modseq}`;
  return line + "\r\n";
}
