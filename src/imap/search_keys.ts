/**
 * SEARCH keys (RFC 3501 §6.4.4, RFC 9051 §6.4.4 and §9 "search-key"): a pure parser from
 * argument tokens to a key tree, plus WITHIN's YOUNGER/OLDER (RFC 5032) and the "$" of
 * SEARCHRES (RFC 5182). No I/O and no mailbox state: `compileKey` in search_eval.ts
 * resolves sequence sets, keywords and "$" against a mailbox before evaluation.
 */
import { bad, parseNumber, parseSequenceSet, type Range, tokenText } from "./args.ts";
import type { Token } from "./parser.ts";

/** A search key after parsing. */
export type Key =
  | { op: "all" }
  /** A system flag by its Maildir letter (S seen, R answered, F flagged, T deleted, D draft). */
  | { op: "flag"; letter: string; set: boolean }
  | { op: "keyword"; name: string; set: boolean }
  | { op: "recent"; set: boolean }
  | { op: "new" }
  | { op: "seq"; ranges: Range[] }
  | { op: "uid"; ranges: Range[] }
  /** "$": the saved search result (RFC 5182), as a sequence set or after UID. */
  | { op: "saved" }
  /** HEADER, SUBJECT; an empty value means "the field is present". */
  | { op: "header"; field: string; value: string }
  /** FROM, TO, CC, BCC: the field as written and each of its addresses (search_eval.ts). */
  | { op: "address"; field: string; value: string }
  | { op: "text"; which: "BODY" | "TEXT"; value: string }
  /** Internal date (sent = false) or Date: header (sent = true) against a calendar day. */
  | { op: "date"; cmp: "before" | "on" | "since"; day: number; sent: boolean }
  /** RFC 8514 SAVEDBEFORE / SAVEDON / SAVEDSINCE: the save date against a calendar day. */
  | { op: "savedate"; cmp: "before" | "on" | "since"; day: number }
  /** RFC 5032 WITHIN: internal date younger / older than `seconds` before now. */
  | { op: "within"; cmp: "younger" | "older"; seconds: number }
  | { op: "size"; cmp: "larger" | "smaller"; n: number }
  /** RFC 7162 §3.4 MODSEQ: messages whose mod-sequence is at least `min`. */
  | { op: "modseq"; min: bigint }
  /** RFC 8474 §6: EMAILID / THREADID objectid. */
  | { op: "objectid"; which: "emailId" | "threadId"; id: string }
  | { op: "not"; key: Key }
  | { op: "or"; a: Key; b: Key }
  | { op: "and"; keys: Key[] };

/** Flag keys and their Maildir letters. */
const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ["R", true],
  DELETED: ["T", true],
  DRAFT: ["D", true],
  FLAGGED: ["F", true],
  SEEN: ["S", true],
  UNANSWERED: ["R", false],
  UNDELETED: ["T", false],
  UNDRAFT: ["D", false],
  UNFLAGGED: ["F", false],
  UNSEEN: ["S", false],
};
/** System flags accepted after KEYWORD/UNKEYWORD (lenient: they are not flag-keywords). */
const SYSTEM_FLAG_LETTERS: Record<string, string> = {
  "\\ANSWERED": "R",
  "\\DELETED": "T",
  "\\DRAFT": "D",
  "\\FLAGGED": "F",
  "\\SEEN": "S",
};
const MAX_DEPTH = 50;
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/**
 * date (RFC 3501 §9): `d-Mon-yyyy` or `dd-Mon-yyyy`, possibly quoted -> midnight UTC of
 * that calendar day. A day that does not exist in the month is BAD.
 */
export function parseDay(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  const mon = m ? MONTHS.indexOf(m[2].toLowerCase()) : -1;
  if (!m || mon < 0) throw bad(`Invalid date ${s.slice(0, 40)}`);
  const day = Number(m[1]), year = Number(m[3]);
  const t = Date.UTC(year, mon, day);
  if (day < 1 || new Date(t).getUTCDate() !== day) throw bad(`Invalid date ${s.slice(0, 40)}`);
  return t;
}

/** number64 (RFC 9051 §9) and mod-sequence-valzer (RFC 7162 §7): 0 to 2^63-1. */
function parseNumber64(s: string, what: string): bigint {
  if (!/^\d{1,19}$/.test(s)) throw bad(`Invalid ${what} ${s.slice(0, 30)}`);
  const n = BigInt(s);
  if (n > 0x7fff_ffff_ffff_ffffn) throw bad(`${what} out of range`);
  return n;
}

/** A sequence set, or "$" (RFC 5182 seq-last-command). */
function setKey(text: string, op: "seq" | "uid"): Key {
  if (text === "$") return { op: "saved" };
  return { op, ranges: parseSequenceSet(text) };
}

/**
 * Parses search keys from tokens (a pure function of the tokens). Several keys, at the
 * top or in parentheses, are ANDed; a single key is returned as it is.
 */
export function parseSearchKeys(tokens: Token[], depth = 0): Key {
  let i = 0;
  const str = (what: string): string => {
    const t = tokens[i++];
    if (!t || t.kind === "list") throw bad(`Missing ${what} in SEARCH`);
    return tokenText(t, what);
  };
  const atom = (what: string): string => {
    const t = tokens[i++];
    if (!t || t.kind !== "atom") throw bad(`Missing ${what} in SEARCH`);
    return t.value;
  };
  const one = (depth: number): Key => {
    if (depth > MAX_DEPTH) throw bad("SEARCH nested too deeply");
    const t = tokens[i++];
    if (!t) throw bad("Missing SEARCH key");
    if (t.kind === "list") {
      if (t.items.length === 0) throw bad("Empty parenthesized SEARCH key");
      return parseSearchKeys(t.items, depth + 1);
    }
    if (t.kind !== "atom") throw bad("Unexpected string in SEARCH");
    const word = t.value.toUpperCase();
    const flag = FLAG_KEYS[word];
    if (flag) return { op: "flag", letter: flag[0], set: flag[1] };
    switch (word) {
      case "ALL":
        return { op: "all" };
      case "NEW":
        return { op: "new" };
      case "OLD":
        return { op: "recent", set: false };
      case "RECENT":
        return { op: "recent", set: true };
      case "KEYWORD":
      case "UNKEYWORD": {
        const name = atom("keyword");
        const set = word === "KEYWORD";
        const sys = SYSTEM_FLAG_LETTERS[name.toUpperCase()];
        if (sys) return { op: "flag", letter: sys, set };
        if (name.startsWith("\\")) throw bad(`Invalid keyword ${name.slice(0, 40)}`);
        return { op: "keyword", name, set };
      }
      case "SUBJECT":
        return { op: "header", field: "subject", value: str("string") };
      case "BCC":
      case "CC":
      case "FROM":
      case "TO":
        return { op: "address", field: word.toLowerCase(), value: str("string") };
      case "HEADER": {
        const field = str("header field name");
        // RFC 5322 §3.6.8 field-name: printable ASCII except ":".
        if (!/^[!-9;-~]+$/.test(field)) {
          throw bad(`Invalid header field name ${field.slice(0, 40)}`);
        }
        return { op: "header", field: field.toLowerCase(), value: str("string") };
      }
      case "BODY":
      case "TEXT":
        return { op: "text", which: word, value: str("string") };
      case "BEFORE":
      case "ON":
      case "SINCE":
      case "SENTBEFORE":
      case "SENTON":
      case "SENTSINCE": {
        const sent = word.startsWith("SENT");
        const cmp = word.slice(sent ? 4 : 0).toLowerCase() as "before" | "on" | "since";
        return { op: "date", cmp, sent, day: parseDay(str("date")) };
      }
      case "SAVEDBEFORE":
      case "SAVEDON":
      case "SAVEDSINCE": {
        const cmp = word.slice(5).toLowerCase() as "before" | "on" | "since";
        return { op: "savedate", cmp, day: parseDay(str("date")) };
      }
      case "SAVEDATESUPPORTED":
        // RFC 8514 §4.2: every mailbox here keeps save dates, so all messages match.
        return { op: "all" };
      case "YOUNGER":
      case "OLDER": {
        // RFC 5032 §3: an nz-number of seconds.
        const seconds = parseNumber(atom("interval"), "interval");
        if (seconds === 0) throw bad("Invalid interval 0");
        return { op: "within", cmp: word === "YOUNGER" ? "younger" : "older", seconds };
      }
      case "LARGER":
      case "SMALLER":
        // RFC 9051 §9: number64 (RFC 3501 had a 32-bit number).
        return {
          op: "size",
          cmp: word === "LARGER" ? "larger" : "smaller",
          n: Number(parseNumber64(atom("size"), "size")),
        };
      case "MODSEQ": {
        // RFC 7162 §3.4: MODSEQ [entry-name entry-type-req] mod-sequence-valzer. Our
        // mod-sequences are per message, so the entry (a flag's own) is accepted and ignored.
        const next = tokens[i];
        if (next && next.kind === "string") {
          const name = str("entry name");
          if (!/^\/flags\/./i.test(name)) {
            throw bad(`Invalid MODSEQ entry name ${name.slice(0, 40)}`);
          }
          const type = atom("entry type").toLowerCase();
          if (type !== "priv" && type !== "shared" && type !== "all") {
            throw bad(`Invalid MODSEQ entry type ${type.slice(0, 20)}`);
          }
        }
        return { op: "modseq", min: parseNumber64(atom("mod-sequence"), "mod-sequence") };
      }
      case "NOT":
        return { op: "not", key: one(depth + 1) };
      case "OR": {
        const a = one(depth + 1);
        return { op: "or", a, b: one(depth + 1) };
      }
      case "UID":
        return setKey(atom("UID set"), "uid");
      case "EMAILID":
      case "THREADID": {
        const id = atom("objectid");
        if (!/^[A-Za-z0-9_-]{1,255}$/.test(id)) throw bad(`Invalid objectid ${id.slice(0, 40)}`);
        return { op: "objectid", which: word === "EMAILID" ? "emailId" : "threadId", id };
      }
    }
    if (/^[\d*$]/.test(word)) return setKey(t.value, "seq");
    throw bad(`Unknown SEARCH key ${word.slice(0, 30)}`);
  };
  const keys: Key[] = [];
  while (i < tokens.length) keys.push(one(depth));
  if (keys.length === 0) throw bad("Missing SEARCH key");
  return keys.length === 1 ? keys[0] : { op: "and", keys };
}

/** True when any key in the tree satisfies `pred`. */
export function someKey(k: Key, pred: (k: Key) => boolean): boolean {
  if (pred(k)) return true;
  switch (k.op) {
    case "not":
      return someKey(k.key, pred);
    case "or":
      return someKey(k.a, pred) || someKey(k.b, pred);
    case "and":
      return k.keys.some((sub) => someKey(sub, pred));
    default:
      return false;
  }
}
