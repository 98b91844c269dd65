/**
 * SEARCH and UID SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4) for everyday clients:
 * flags, keywords, sequence and UID sets, HEADER/FROM/TO/CC/BCC/SUBJECT, BODY/TEXT,
 * internal-date and sent-date ranges, sizes, NOT/OR and parentheses; ESEARCH results
 * (RFC 4731 RETURN MIN/MAX/COUNT/ALL, and always for IMAP4rev2 sessions).
 */
import {
  type Args,
  bad,
  formatSet,
  inRanges,
  no,
  parseNumber,
  parseSearchDate,
  parseSequenceSet,
  type Range,
  resolveRanges,
  tokenText,
} from "./args.ts";
import { defineCommand, SELECTED } from "./command_table.ts";
import { headerValues, messageText, parseDate } from "./mime/decode.ts";
import { MessageData } from "./msgcache.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import { quoted } from "./wire.ts";

/** A search key after parsing. */
export type Key =
  | { op: "all" }
  | { op: "flag"; letter: string; set: boolean }
  | { op: "keyword"; name: string; set: boolean }
  | { op: "recent"; set: boolean }
  | { op: "new" }
  | { op: "seq"; ranges: Range[] }
  | { op: "uid"; ranges: Range[] }
  | { op: "header"; field: string; value: string }
  | { op: "text"; which: "BODY" | "TEXT"; value: string }
  | { op: "date"; cmp: "before" | "on" | "since"; day: number; sent: boolean }
  | { op: "size"; cmp: "larger" | "smaller"; n: number }
  | { op: "not"; key: Key }
  | { op: "or"; a: Key; b: Key }
  | { op: "and"; keys: Key[] };

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
const MAX_DEPTH = 50;

/** Parses search keys from tokens (a pure function of the tokens). */
export function parseSearchKeys(tokens: Token[]): Key {
  let i = 0;
  const str = (what: string): string => {
    const t = tokens[i++];
    if (!t || t.kind === "list") throw bad(`Missing ${what} in SEARCH`);
    return tokenText(t, what);
  };
  const one = (depth: number): Key => {
    if (depth > MAX_DEPTH) throw bad("SEARCH nested too deeply");
    const t = tokens[i++];
    if (!t) throw bad("Missing SEARCH key");
    if (t.kind === "list") {
      if (t.items.length === 0) throw bad("Empty parenthesized SEARCH key");
      const sub = parseSearchKeys(t.items);
      return sub;
    }
    if (t.kind === "string") throw bad("Unexpected string in SEARCH");
    const word = t.value.toUpperCase();
    if (FLAG_KEYS[word]) return { op: "flag", letter: FLAG_KEYS[word][0], set: FLAG_KEYS[word][1] };
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
      case "UNKEYWORD":
        return { op: "keyword", name: str("keyword"), set: word === "KEYWORD" };
      case "BCC":
      case "CC":
      case "FROM":
      case "SUBJECT":
      case "TO":
        return { op: "header", field: word.toLowerCase(), value: str("string") };
      case "HEADER":
        return {
          op: "header",
          field: str("header field name").toLowerCase(),
          value: str("string"),
        };
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
        return { op: "date", cmp, sent, day: parseSearchDate(str("date")) };
      }
      case "LARGER":
      case "SMALLER":
        return {
          op: "size",
          cmp: word.toLowerCase() as "larger" | "smaller",
          n: parseNumber(str("size"), "size"),
        };
      case "NOT":
        return { op: "not", key: one(depth + 1) };
      case "OR": {
        const a = one(depth + 1);
        return { op: "or", a, b: one(depth + 1) };
      }
      case "UID":
        return { op: "uid", ranges: parseSequenceSet(str("UID set")) };
    }
    if (/^[\d*]/.test(word)) return { op: "seq", ranges: parseSequenceSet(t.value) };
    throw bad(`Unknown SEARCH key ${word.slice(0, 30)}`);
  };
  const keys: Key[] = [];
  while (i < tokens.length) keys.push(one(0));
  if (keys.length === 0) throw bad("Missing SEARCH key");
  return keys.length === 1 ? keys[0] : { op: "and", keys };
}

/** True when the key needs the message's bytes (headers or body). */
function needsContent(k: Key): boolean {
  switch (k.op) {
    case "header":
    case "text":
      return true;
    case "date":
      return k.sent;
    case "not":
      return needsContent(k.key);
    case "or":
      return needsContent(k.a) || needsContent(k.b);
    case "and":
      return k.keys.some(needsContent);
    default:
      return false;
  }
}

interface Candidate {
  seq: number;
  uid: number;
  data: MessageData;
  recent: boolean;
  keywords: string[];
  exists: number;
  lastUid: number;
}

const DAY = 86_400_000;

async function matches(k: Key, c: Candidate): Promise<boolean> {
  const e = c.data.entry;
  switch (k.op) {
    case "all":
      return true;
    case "flag":
      return e.flags.includes(k.letter) === k.set;
    case "keyword": {
      const has = c.keywords.some((n) => n.toLowerCase() === k.name.toLowerCase());
      return has === k.set;
    }
    case "recent":
      return c.recent === k.set;
    case "new":
      return c.recent && !e.flags.includes("S");
    case "seq":
      return inRanges(resolveRanges(k.ranges, c.exists), c.seq);
    case "uid":
      return inRanges(resolveRanges(k.ranges, c.lastUid), c.uid);
    case "size":
      return k.cmp === "larger" ? c.data.size > k.n : c.data.size < k.n;
    case "date": {
      let day: number;
      if (k.sent) {
        const bytes = await c.data.headerBytes();
        const d = headerValues(bytes, await c.data.structure(), "date");
        const parsed = d.length ? parseDate(d[0]) : null;
        // RFC 9051 §6.4.4: without a usable Date field, the internal date counts.
        day = parsed ? parsed.day : Math.floor((await c.data.folder.internalDate(e)) / DAY) * DAY;
      } else {
        day = Math.floor((await c.data.folder.internalDate(e)) / DAY) * DAY;
      }
      return k.cmp === "before" ? day < k.day : k.cmp === "on" ? day === k.day : day >= k.day;
    }
    case "header": {
      const bytes = await c.data.headerBytes();
      const values = headerValues(bytes, await c.data.structure(), k.field);
      if (k.value === "") return values.length > 0;
      const needle = k.value.toLowerCase();
      return values.some((v) => v.toLowerCase().includes(needle));
    }
    case "text": {
      const bytes = await c.data.bytes();
      const text = messageText(bytes, await c.data.structure(), k.which);
      return text.toLowerCase().includes(k.value.toLowerCase());
    }
    case "not":
      return !(await matches(k.key, c));
    case "or":
      return (await matches(k.a, c)) || (await matches(k.b, c));
    case "and":
      for (const sub of k.keys) if (!(await matches(sub, c))) return false;
      return true;
  }
}

/** Runs a search over the session's view; returns [seq, uid] pairs in order. */
export async function runSearch(s: Session, key: Key): Promise<[number, number][]> {
  const view = s.view!;
  const content = needsContent(key);
  const out: [number, number][] = [];
  const keywordsOf = (letters: string) =>
    [...letters].filter((ch) => ch >= "a" && ch <= "z").map((ch) =>
      view.folder.keywords[ch.charCodeAt(0) - 97] ?? ""
    );
  for (let i = 0; i < view.uids.length; i++) {
    const uid = view.uids[i];
    const entry = view.entry(uid);
    if (!entry) continue;
    const data = new MessageData(view.folder, entry);
    const c: Candidate = {
      seq: i + 1,
      uid,
      data,
      recent: view.recent.has(uid),
      keywords: keywordsOf(entry.flags),
      exists: view.uids.length,
      lastUid: view.lastUid,
    };
    try {
      if (await matches(key, c)) out.push([i + 1, uid]);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // expunged meanwhile
    }
    if (content && i % 64 === 63) await s.out.maybeFlush();
  }
  return out;
}

const RETURN_OPTS = new Set(["MIN", "MAX", "COUNT", "ALL"]);

async function searchCommand(s: Session, tag: string, args: Args, uid: boolean) {
  let ret: string[] | null = null;
  if (args.peekAtom() === "RETURN") {
    args.atom("RETURN");
    ret = args.list("return options").map((t) => {
      const v = t.kind === "atom" ? t.value.toUpperCase() : "";
      if (!RETURN_OPTS.has(v)) throw bad(`Unknown SEARCH return option ${v.slice(0, 20)}`);
      return v;
    });
    if (ret.length === 0) ret = ["ALL"];
  }
  if (args.peekAtom() === "CHARSET") {
    args.atom("CHARSET");
    const cs = args.astring("charset").toUpperCase();
    if (cs !== "UTF-8" && cs !== "US-ASCII") {
      throw no(`Charset ${cs.slice(0, 30)} is not supported`, "BADCHARSET (US-ASCII UTF-8)");
    }
  }
  const key = parseSearchKeys(args.rest());
  const found = await runSearch(s, key);
  const nums = found.map(([seq, u]) => (uid ? u : seq));
  if (ret === null && !s.rev2) {
    s.out.text(`* SEARCH${nums.map((n) => " " + n).join("")}\r\n`);
  } else {
    // RFC 4731 §3.1 / RFC 9051 §7.3.4 ESEARCH.
    const opts = ret ?? ["ALL"];
    let line = `* ESEARCH (TAG ${quoted(tag)})${uid ? " UID" : ""}`;
    if (nums.length > 0) {
      if (opts.includes("MIN")) line += ` MIN ${nums[0]}`;
      if (opts.includes("MAX")) line += ` MAX ${nums[nums.length - 1]}`;
    }
    if (opts.includes("COUNT")) line += ` COUNT ${nums.length}`;
    if (opts.includes("ALL") && nums.length > 0) line += ` ALL ${formatSet(nums)}`;
    s.out.text(line + "\r\n");
  }
  return { text: "SEARCH completed" };
}

defineCommand("SEARCH", {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  run: (s, { tag, args, uid }) => searchCommand(s, tag, args, uid),
});
