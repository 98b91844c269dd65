/**
 * The ESORT result of SORT (RFC 5267 §3): `SORT RETURN (MIN MAX COUNT ALL) ...` answered with
 * one ESEARCH response whose values follow the sort order: MIN is the first message in
 * that order, MAX the last, ALL every match in order (a sequence-set whose ranges are
 * ascending runs only, so the order survives).
 */
import { type Args, bad } from "./args.ts";
import { quoted } from "./wire.ts";

export type ResultOption = "MIN" | "MAX" | "COUNT" | "ALL";

export interface ResultOptions {
  opts: Set<ResultOption>;
}

const OPTIONS = new Set<string>(["MIN", "MAX", "COUNT", "ALL"]);

/** `RETURN (options)` when present (null: a plain SORT); `RETURN ()` means ALL. */
export function parseResultOptions(args: Args): ResultOptions | null {
  if (args.peekAtom() !== "RETURN") return null;
  args.atom("RETURN");
  const opts = new Set<ResultOption>();
  for (const t of args.list("return options")) {
    const v = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (!OPTIONS.has(v)) throw bad(`Unknown SORT return option ${v.slice(0, 20)}`);
    opts.add(v as ResultOption);
  }
  if (opts.size === 0) opts.add("ALL");
  return { opts };
}

/** Numbers in the order given, ascending consecutive runs as ranges: 5,3:4,9 for [5,3,4,9]. */
export function orderedSet(nums: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < nums.length;) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    parts.push(i === j ? `${nums[i]}` : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** The ESEARCH line of an ESORT (RFC 5267 §3.2) for `nums` in sort order. */
export function esearchLine(
  tag: string,
  uid: boolean,
  ret: ResultOptions,
  nums: readonly number[],
  modseq: number | null,
): string {
  const o = ret.opts;
  let line = `* ESEARCH (TAG ${quoted(tag)})${uid ? " UID" : ""}`;
  if (nums.length > 0) {
    if (o.has("MIN")) line += ` MIN ${nums[0]}`;
    if (o.has("MAX")) line += ` MAX ${nums[nums.length - 1]}`;
  }
  if (o.has("COUNT")) line += ` COUNT ${nums.length}`;
  if (o.has("ALL") && nums.length > 0) line += ` ALL ${orderedSet(nums)}`;
  if (modseq !== null) line += ` MODSEQ ${modseq}`;
  return line + "\r\n";
}
