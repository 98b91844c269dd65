/**
 * Evaluating SEARCH keys (RFC 3501 §6.4.4, RFC 9051 §6.4.4), pure: `compileKey` resolves a
 * parsed key against one mailbox (sequence sets, keyword letters, "$", lower-cased search
 * strings) and orders every AND so cheap keys run first; `evaluate` then tests one
 * message, touching its content only when a flag, number, size or date key could not
 * already decide. Messages are reached through `SearchMessage`, so the evaluator knows
 * nothing of files, caches or sessions.
 *
 * Choices (docs/imap.md):
 * - BEFORE/ON/SINCE compare the calendar day of the internal date in UTC, the zone our
 *   INTERNALDATE is presented in ("disregarding time and timezone" of that value).
 * - SENTBEFORE/SENTON/SENTSINCE compare the day written in the Date: header (the sender's
 *   own date); without a usable Date: field the internal date's day counts, as SORT does
 *   (RFC 5256 §2.2).
 * - String keys match case-insensitively as substrings of the decoded text (RFC 2047
 *   headers, transfer encodings and charsets undone; HTML reduced to its text), after
 *   Unicode lower-casing, NFC normalization and white-space folding of both sides.
 */
import { fold } from "../message/search_fold.ts";
import { inRanges, type Range, resolveRanges } from "./args.ts";
import type { Key } from "./search_keys.ts";

export { fold };

const DAY = 86_400_000;

/** What the evaluator needs to know about one message. */
export interface SearchMessage {
  readonly seq: number;
  readonly uid: number;
  /** Maildir flag letters: upper-case system flags, lower-case keyword letters. */
  readonly flags: string;
  readonly recent: boolean;
  /** RFC822.SIZE. */
  readonly size: number;
  /** The message's mod-sequence (RFC 7162), when the store keeps one. */
  readonly modseq?: bigint;
  /** Internal date, ms since the epoch. */
  internalDate(): number | Promise<number>;
  /** RFC 8514 save date, ms since the epoch. */
  saveDate(): number | Promise<number>;
  /** Decoded (RFC 2047), unfolded values of every `field` header field, in order. */
  header(field: string): string[] | Promise<string[]>;
  /**
   * The same values already in `fold` form, when the message keeps them so (a search of
   * 100,000 subjects then folds none); null: use `header`.
   */
  foldedHeader?(field: string): string[] | Promise<string[]> | null;
  /**
   * Whether a header field holds the folded `needle`, when known without the message
   * (the subject column, subject_column.ts); undefined: test the values.
   */
  headerMatch?(field: string, needle: string): boolean | undefined;
  /**
   * An address field in every form it is searched in (message_keys.ts addressForms); the
   * decoded values (`header`) when not given.
   */
  addresses?(field: string): Promise<string[]>;
  /** RFC 8474 EMAILID and THREADID (SEARCH EMAILID / THREADID match nothing without). */
  objectId?(which: "emailId" | "threadId"): Promise<string>;
  /**
   * The searchable text for BODY ("BODY") or TEXT ("TEXT") as `fold` returns it (see
   * messageText in mime/decode.ts).
   */
  text(which: "BODY" | "TEXT"): Promise<string>;
  /**
   * The full-text index's answer for a BODY/TEXT key (src/store/fts/): true or false when
   * it decides, undefined when the message must be scanned (not indexed yet).
   */
  textMatch?(which: "BODY" | "TEXT", needle: string): boolean | undefined;
  /** Midnight UTC of the day written in the Date: field, or null without a usable one. */
  sentDay(): Promise<number | null>;
}

/** The mailbox a key is compiled against. */
export interface SearchContext {
  /** Number of messages (what "*" means for sequence numbers). */
  exists: number;
  /** Highest UID in the mailbox (what "*" means for UIDs); 0 when empty. */
  lastUid: number;
  /** The Maildir letter of a keyword (case-insensitive name), or undefined if unused. */
  keywordLetter(name: string): string | undefined;
  /** UIDs of the saved search result ("$", RFC 5182). */
  saved: readonly number[];
  /** Current time, ms since the epoch (for YOUNGER/OLDER). */
  now: number;
}

/** A key resolved for one mailbox. `cost` orders ANDs: 0 free, 1 metadata, 2 date, 3 header, 4 body. */
export type Node =
  | { op: "const"; value: boolean }
  | { op: "flag"; letter: string; set: boolean }
  | { op: "recent"; set: boolean }
  | { op: "new" }
  | { op: "seq"; ranges: Range[] }
  | { op: "uid"; ranges: Range[] }
  | { op: "uids"; set: ReadonlySet<number> }
  | { op: "size"; cmp: "larger" | "smaller"; n: number }
  | { op: "modseq"; min: bigint }
  | { op: "objectid"; which: "emailId" | "threadId"; id: string }
  | { op: "date"; cmp: "before" | "on" | "since"; day: number }
  | { op: "savedate"; cmp: "before" | "on" | "since"; day: number }
  /** Internal date against an instant: after (YOUNGER) or at/before (OLDER) `limit`. */
  | { op: "within"; cmp: "younger" | "older"; limit: number }
  | { op: "sent"; cmp: "before" | "on" | "since"; day: number }
  | { op: "header"; field: string; needle: string }
  | { op: "address"; field: string; needle: string }
  | { op: "text"; which: "BODY" | "TEXT"; needle: string }
  | { op: "not"; node: Node }
  | { op: "or"; a: Node; b: Node }
  | { op: "and"; nodes: Node[] };

const TRUE: Node = { op: "const", value: true };
const FALSE: Node = { op: "const", value: false };

/** Resolves a parsed key against a mailbox; constant parts are folded away. */
export function compileKey(k: Key, ctx: SearchContext): Node {
  switch (k.op) {
    case "all":
      return TRUE;
    case "flag":
    case "recent":
    case "new":
    case "size":
    case "modseq":
    case "objectid":
      return k;
    case "keyword": {
      const letter = ctx.keywordLetter(k.name);
      // A keyword no message of the mailbox carries: KEYWORD never, UNKEYWORD always.
      if (letter === undefined) return k.set ? FALSE : TRUE;
      return { op: "flag", letter, set: k.set };
    }
    case "seq":
      return ctx.exists === 0 ? FALSE : { op: "seq", ranges: resolveRanges(k.ranges, ctx.exists) };
    case "uid":
      return ctx.lastUid === 0
        ? FALSE
        : { op: "uid", ranges: resolveRanges(k.ranges, ctx.lastUid) };
    case "saved":
      return ctx.saved.length === 0 ? FALSE : { op: "uids", set: new Set(ctx.saved) };
    case "header":
    case "address":
      return { op: k.op, field: k.field, needle: fold(k.value) };
    case "text":
      return { op: "text", which: k.which, needle: fold(k.value) };
    case "date":
      return k.sent
        ? { op: "sent", cmp: k.cmp, day: k.day }
        : { op: "date", cmp: k.cmp, day: k.day };
    case "within":
      return { op: "within", cmp: k.cmp, limit: ctx.now - k.seconds * 1000 };
    case "savedate":
      return { op: "savedate", cmp: k.cmp, day: k.day };
    case "not": {
      const node = compileKey(k.key, ctx);
      if (node.op === "const") return node.value ? FALSE : TRUE;
      if (node.op === "not") return node.node;
      return { op: "not", node };
    }
    case "or": {
      let a = compileKey(k.a, ctx), b = compileKey(k.b, ctx);
      if (a.op === "const") return a.value ? TRUE : b;
      if (b.op === "const") return b.value ? TRUE : a;
      if (cost(b) < cost(a)) [a, b] = [b, a];
      return { op: "or", a, b };
    }
    case "and": {
      const nodes: Node[] = [];
      for (const sub of k.keys) {
        const n = compileKey(sub, ctx);
        if (n.op === "const") {
          if (!n.value) return FALSE;
          continue;
        }
        if (n.op === "and") nodes.push(...n.nodes);
        else nodes.push(n);
      }
      if (nodes.length === 0) return TRUE;
      if (nodes.length === 1) return nodes[0];
      // Stable sort: cheap keys first, the order given otherwise.
      return {
        op: "and",
        nodes: nodes.map((n, i) => [n, i] as const).sort((x, y) =>
          cost(x[0]) - cost(y[0]) || x[1] - y[1]
        ).map((x) => x[0]),
      };
    }
  }
}

/** How much a node costs to evaluate: 0-1 metadata, 2 internal date, 3 header, 4 body. */
export function cost(n: Node): number {
  switch (n.op) {
    case "const":
      return 0;
    case "flag":
    case "recent":
    case "new":
    case "seq":
    case "uid":
    case "uids":
    case "size":
    case "modseq":
      return 1;
    case "date":
    case "within":
    case "savedate":
      return 2;
    case "header":
    case "address":
    case "objectid":
    case "sent":
      return 3;
    case "text":
      return 4;
    case "not":
      return cost(n.node);
    case "or":
      return Math.max(cost(n.a), cost(n.b));
    case "and":
      return Math.max(...n.nodes.map(cost));
  }
}

/** True when evaluating the node may need the message's header or body. */
export function needsContent(n: Node): boolean {
  return cost(n) >= 3;
}

export function compareDay(cmp: "before" | "on" | "since", day: number, want: number): boolean {
  return cmp === "before" ? day < want : cmp === "on" ? day === want : day >= want;
}

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

type Result = boolean | Promise<boolean>;

/** Whether `m` matches; synchronous unless a key needs a date or the message's content. */
export function evaluate(n: Node, m: SearchMessage): Result {
  switch (n.op) {
    case "const":
      return n.value;
    case "flag":
      return m.flags.includes(n.letter) === n.set;
    case "recent":
      return m.recent === n.set;
    case "new":
      return m.recent && !m.flags.includes("S");
    case "seq":
      return inRanges(n.ranges, m.seq);
    case "uid":
      return inRanges(n.ranges, m.uid);
    case "uids":
      return n.set.has(m.uid);
    case "size":
      return n.cmp === "larger" ? m.size > n.n : m.size < n.n;
    case "modseq":
      return m.modseq !== undefined && m.modseq >= n.min;
    case "date":
      return then(m.internalDate(), (t) => compareDay(n.cmp, dayOf(t), n.day));
    case "within":
      return then(m.internalDate(), (t) => n.cmp === "younger" ? t > n.limit : t <= n.limit);
    case "savedate":
      return then(m.saveDate(), (t) => compareDay(n.cmp, dayOf(t), n.day));
    case "sent":
      return m.sentDay().then(async (day) =>
        compareDay(n.cmp, day ?? dayOf(await m.internalDate()), n.day)
      );
    case "header": {
      const known = m.headerMatch?.(n.field, n.needle);
      if (known !== undefined) return known;
      const folded = m.foldedHeader?.(n.field) ?? null;
      if (folded !== null) return then(folded, (values) => matchesFolded(values, n.needle));
      return then(m.header(n.field), (values) => matches(values, n.needle));
    }
    case "address":
      return then(
        m.addresses ? m.addresses(n.field) : m.header(n.field),
        (values) => matches(values, n.needle),
      );
    case "objectid":
      return m.objectId ? m.objectId(n.which).then((id) => id === n.id) : false;
    case "text": {
      const known = m.textMatch?.(n.which, n.needle);
      if (known !== undefined) return known;
      return m.text(n.which).then((t) => t.includes(n.needle));
    }
    case "not":
      return then(evaluate(n.node, m), (v) => !v);
    case "or":
      return then(evaluate(n.a, m), (v) => v || evaluate(n.b, m));
    case "and":
      return all(n.nodes, 0, m);
  }
}

/** A header key's test; an empty needle asks whether the field is there at all. */
function matches(values: string[], needle: string): boolean {
  return needle === "" ? values.length > 0 : values.some((v) => fold(v).includes(needle));
}

function matchesFolded(values: string[], needle: string): boolean {
  return needle === "" ? values.length > 0 : values.some((v) => v.includes(needle));
}

function all(nodes: Node[], from: number, m: SearchMessage): Result {
  for (let i = from; i < nodes.length; i++) {
    const r = evaluate(nodes[i], m);
    if (r instanceof Promise) return r.then((v) => v && all(nodes, i + 1, m));
    if (!r) return false;
  }
  return true;
}

function then<T>(v: T | Promise<T>, f: (v: T) => Result): Result {
  return v instanceof Promise ? v.then(f) : f(v);
}
