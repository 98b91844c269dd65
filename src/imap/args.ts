/**
 * Reading a command's arguments from its tokens (RFC 3501 §9 / RFC 9051 §9 grammar):
 * astrings, numbers, flag lists, sequence sets, dates, mailbox names. Everything
 * malformed raises ImapError("BAD", ...), which the session turns into a tagged BAD.
 */
import type { Token } from "./parser.ts";
import { decodeMutf7, encodeMutf7 } from "../store/mutf7.ts";
import { string } from "./wire.ts";

export type Status = "NO" | "BAD";

/** A client-facing failure: tagged NO or BAD with an optional response code. */
export class ImapError extends Error {
  constructor(readonly status: Status, message: string, readonly code?: string) {
    super(message);
  }
}

export const bad = (text: string, code?: string) => new ImapError("BAD", text, code);
export const no = (text: string, code?: string) => new ImapError("NO", text, code);

const dec = new TextDecoder();
const enc = new TextEncoder();

/** A cursor over a command's argument tokens. */
export class Args {
  #i = 0;
  constructor(readonly tokens: Token[]) {}

  get more(): boolean {
    return this.#i < this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.#i];
  }

  /** Peeks at an atom's upper-cased value ("" for anything else). */
  peekAtom(): string {
    const t = this.tokens[this.#i];
    return t?.kind === "atom" ? t.value.toUpperCase() : "";
  }

  take(what: string): Token {
    const t = this.tokens[this.#i++];
    if (!t) throw bad(`Missing ${what}`);
    return t;
  }

  /** All remaining tokens. */
  rest(): Token[] {
    const out = this.tokens.slice(this.#i);
    this.#i = this.tokens.length;
    return out;
  }

  end(): void {
    if (this.more) throw bad("Too many arguments");
  }

  atom(what: string): string {
    const t = this.take(what);
    if (t.kind !== "atom") throw bad(`Expected ${what}`);
    return t.value;
  }

  /** astring: atom, quoted or literal (as UTF-8 text). */
  astring(what: string): string {
    return tokenText(this.take(what), what);
  }

  astringBytes(what: string): Uint8Array {
    const t = this.take(what);
    if (t.kind === "string") return t.bytes;
    if (t.kind === "atom") return enc.encode(t.value);
    throw bad(`Expected ${what}`);
  }

  number(what: string): number {
    return parseNumber(this.atom(what), what);
  }

  list(what: string): Token[] {
    const t = this.take(what);
    if (t.kind !== "list") throw bad(`Expected ${what} in parentheses`);
    return t.items;
  }
}

export function tokenText(t: Token, what: string): string {
  if (t.kind === "atom") return t.value;
  if (t.kind === "string") return dec.decode(t.bytes);
  throw bad(`Expected ${what}`);
}

/** nz-number / number (RFC 3501 §9): digits only, 32-bit unsigned. */
export function parseNumber(s: string, what = "number"): number {
  if (!/^\d{1,10}$/.test(s)) throw bad(`Invalid ${what}: ${s.slice(0, 40)}`);
  const n = Number(s);
  if (n > 0xffffffff) throw bad(`${what} out of range`);
  return n;
}

/** One range of a sequence set; `Infinity` stands for "*". */
export interface Range {
  from: number;
  to: number;
}

/**
 * sequence-set (RFC 3501 §9): "1:4,7,9:*". "$" (RFC 5182) is replaced by the saved search
 * result before a command runs (search_res.ts); when it gets here that result is empty.
 * One pass over the text (a set may be as long as a command line); the ranges come back
 * as written: resolveRanges or mergeRanges sort and merge them once for lookups.
 */
export function parseSequenceSet(s: string): Range[] {
  if (s === "$") return [];
  const invalid = () => bad(`Invalid sequence set: ${s.slice(0, 60)}`);
  if (s.length === 0) throw invalid();
  const out: Range[] = [];
  let i = 0;
  const number = (): number => {
    if (s.charCodeAt(i) === 0x2a) { // "*"
      i++;
      return Infinity;
    }
    let n = 0, digits = 0;
    for (; i < s.length; i++, digits++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    if (digits === 0 || digits > 10) throw invalid();
    if (n === 0 || n > 0xffffffff) throw bad(`Invalid sequence number in ${s.slice(0, 60)}`);
    return n;
  };
  for (;;) {
    const a = number();
    let b = a;
    if (s.charCodeAt(i) === 0x3a) { // ":"
      i++;
      b = number();
    }
    out.push(a <= b ? { from: a, to: b } : { from: b, to: a });
    if (i === s.length) return out;
    if (s.charCodeAt(i) !== 0x2c) throw invalid(); // ","
    i++;
  }
}

/**
 * The ranges sorted and merged (overlapping or adjacent ones joined): what inRanges
 * searches. O(k log k) once, instead of O(k) per message looked up.
 */
export function mergeRanges(ranges: readonly Range[]): Range[] {
  if (ranges.length === 0) return [];
  const sorted = ranges.map((r) => ({ from: r.from, to: r.to })).sort((a, b) => a.from - b.from);
  const out: Range[] = [sorted[0]];
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i], last = out[out.length - 1];
    if (r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push(r);
  }
  return out;
}

/**
 * Resolves "*" to `max` (RFC 3501 §9: "n:*" includes the largest even when n > it), then
 * sorts and merges (mergeRanges).
 */
export function resolveRanges(ranges: readonly Range[], max: number): Range[] {
  return mergeRanges(ranges.map((r) => {
    const from = r.from === Infinity ? max : r.from;
    const to = r.to === Infinity ? max : r.to;
    return from <= to ? { from, to } : { from: to, to: from };
  }));
}

/** Is `n` in `ranges`? They must be sorted and merged (resolveRanges, mergeRanges). */
export function inRanges(ranges: readonly Range[], n: number): boolean {
  let lo = 0, hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid];
    if (n < r.from) hi = mid - 1;
    else if (n > r.to) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Sequence-set text for numbers in the order given, ascending consecutive runs as ranges:
 * [1,2,3,5] -> "1:3,5", [5,3,4,9] -> "5,3:4,9" (so a SORT order survives).
 */
export function formatSet(nums: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < nums.length;) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    parts.push(i === j ? `${nums[i]}` : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

const SYSTEM_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/** flag-list (RFC 3501 §9); keywords are atoms; \Recent may not be set (§2.3.2). */
export function parseFlagList(items: Token[], allowRecent = false): string[] {
  const out: string[] = [];
  for (const t of items) {
    if (t.kind !== "atom") throw bad("Invalid flag");
    const v = t.value;
    if (v.startsWith("\\")) {
      const sys = SYSTEM_FLAGS.find((f) => f.toLowerCase() === v.toLowerCase());
      if (sys) out.push(sys);
      else if (v.toLowerCase() === "\\recent" && allowRecent) continue;
      else throw bad(`Invalid system flag ${v.slice(0, 40)}`);
    } else {
      // flag-keyword = atom: no atom-specials, no "[" handled leniently except "]".
      if (!/^[!#$&'+\-./0-9:;<=>?@A-Z^_`a-z|~]+$/.test(v) || v.length > 100) {
        throw bad(`Invalid keyword ${v.slice(0, 40)}`);
      }
      out.push(v);
    }
  }
  return out;
}

/**
 * Flags as one token or a list (STORE accepts both, RFC 3501 §6.4.6). \Recent cannot
 * be changed by a client (§2.3.2) and is ignored rather than refused.
 */
export function flagsArg(t: Token): string[] {
  if (t.kind === "list") return parseFlagList(t.items, true);
  if (t.kind === "atom") return parseFlagList([t], true);
  throw bad("Expected flags");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** date (RFC 3501 §9): "1-Feb-1994" -> UTC midnight ms of that calendar day. */
export function parseSearchDate(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  const mon = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase()) : -1;
  if (!m || mon < 0 || Number(m[1]) < 1 || Number(m[1]) > 31) {
    throw bad(`Invalid date ${s.slice(0, 40)}`);
  }
  return Date.UTC(Number(m[3]), mon, Number(m[1]));
}

/** date-time (RFC 3501 §9): "17-Jul-1996 02:44:25 -0700" -> ms since epoch. */
export function parseDateTime(s: string): number {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s);
  const mon = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase()) : -1;
  if (!m || mon < 0) throw bad(`Invalid date-time ${s.slice(0, 40)}`);
  const [d, y, hh, mm, ss] = [m[1], m[3], m[4], m[5], m[6]].map(Number);
  if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) throw bad(`Invalid date-time ${s}`);
  const offset = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === "-" ? -1 : 1);
  return Date.UTC(y, mon, d, hh, mm, ss) - offset * 60_000;
}

/** INTERNALDATE text (RFC 3501 §9 date-time), in UTC. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `"${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/**
 * A mailbox argument to the store's UTF-8 name: modified UTF-7 (RFC 3501 §5.1.3) for
 * rev1 clients, UTF-8 once UTF8=ACCEPT/IMAP4rev2 is enabled (RFC 6855, RFC 9051 §5.1).
 * A trailing delimiter is dropped; INBOX is case-insensitive.
 */
export function mailboxName(raw: string, utf8: boolean): string {
  let name = raw;
  if (!utf8 && /[&]/.test(name) && !/[\u0080-\uffff]/.test(name)) {
    try {
      name = decodeMutf7(name);
    } catch {
      throw no(`Mailbox name is not valid modified UTF-7: ${raw.slice(0, 60)}`, "CANNOT");
    }
  }
  if (name.length > 1 && name.endsWith("/")) name = name.slice(0, -1);
  if (name.toUpperCase() === "INBOX") return "INBOX";
  if (/^inbox\//i.test(name)) name = "INBOX" + name.slice(5);
  return name;
}

/** A mailbox name as the client should see it (mUTF-7 for rev1, RFC 3501 §5.1.3). */
export function wireName(s: { utf8: boolean }, name: string): string {
  const shown = s.utf8 ? name : name.split("/").map(encodeMutf7).join("/");
  return string(shown, { utf8: s.utf8 });
}
