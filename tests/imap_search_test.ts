/**
 * SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and
 * WITHIN (RFC 5032): pure tests of the key parser and evaluator, then one step per search
 * key through the real daemon against the corpus in tests/fixtures/search/ (made by
 * make_corpus.py), whose flags and internal dates are set by APPEND below.
 */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { ImapError } from "../src/imap/args.ts";
import { headerValues, messageText } from "../src/message/body_text.ts";
import { parseDate } from "../src/message/date.ts";
import { parseMessage } from "../src/message/mime.ts";
import type { Token } from "../src/imap/parser.ts";
import {
  compileKey,
  evaluate,
  fold,
  type Node,
  type SearchContext,
  type SearchMessage,
} from "../src/imap/search_eval.ts";
import { parseDay, parseSearchKeys } from "../src/imap/search_keys.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { FIXTURES, startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";
const DIR = join(FIXTURES, "search");
const enc = new TextEncoder();

/** The corpus in UID order, with the flags and internal date APPEND gives each message. */
const CORPUS: { file: string; flags: string; date?: string }[] = [
  { file: "01-plain.eml", flags: "\\Seen", date: "03-Jan-2022 09:05:00 +0000" },
  { file: "02-qp-latin1.eml", flags: "\\Answered \\Seen", date: "16-Feb-2022 04:31:00 +0000" },
  { file: "03-base64-utf8.eml", flags: "\\Flagged", date: "31-May-2022 21:15:00 +0000" },
  { file: "04-html.eml", flags: "$Label1", date: "01-Jul-2022 12:00:00 +0000" },
  {
    file: "05-alternative.eml",
    flags: "\\Seen \\Flagged $Label1 Work",
    date: "10-Sep-2022 06:00:00 +0000",
  },
  { file: "06-attachment.eml", flags: "\\Deleted \\Seen", date: "31-Oct-2022 17:45:00 +0000" },
  { file: "07-japanese.eml", flags: "\\Draft", date: "24-Nov-2022 01:00:00 +0000" },
  // 1 Jan 2023 01:00 UTC: the UTC day is what BEFORE/ON/SINCE compare.
  { file: "08-koi8r-cp1252.eml", flags: "\\Seen", date: "31-Dec-2022 20:00:00 -0500" },
  { file: "09-no-date.eml", flags: "\\Seen \\Answered", date: "15-Mar-2023 12:00:00 +0000" },
  { file: "10-big.eml", flags: "", date: "03-Apr-2023 08:00:00 +0000" },
  { file: "11-folded.eml", flags: "\\Flagged", date: "05-May-2023 19:00:00 +0000" },
  // Delivered (internal date: now) and \Recent for the test session; 13 is then \Seen.
  { file: "12-fresh.eml", flags: "" },
  { file: "13-fresh.eml", flags: "\\Seen" },
];
const ALL = CORPUS.map((_, i) => i + 1);
const except = (...xs: number[]) => ALL.filter((n) => !xs.includes(n));

const tok = (v: string): Token => ({ kind: "atom", value: v });
const str = (v: string): Token => ({ kind: "string", bytes: enc.encode(v), literal: false });

/** A SearchMessage over a corpus file, counting what it had to read. */
function corpusMessage(i: number, opts: { recent?: boolean } = {}) {
  const c = CORPUS[i];
  const bytes = Deno.readFileSync(join(DIR, c.file));
  const structure = parseMessage(bytes);
  const letters: Record<string, string> = {
    "\\Seen": "S",
    "\\Answered": "R",
    "\\Flagged": "F",
    "\\Deleted": "T",
    "\\Draft": "D",
    "$Label1": "a",
    "Work": "b",
  };
  const reads = { header: 0, text: 0, date: 0 };
  const m: SearchMessage & { reads: typeof reads } = {
    reads,
    seq: i + 1,
    uid: (i + 1) * 10,
    flags: c.flags.split(" ").filter(Boolean).map((f) => letters[f]).sort().join(""),
    recent: opts.recent ?? false,
    size: bytes.length,
    internalDate() {
      reads.date++;
      return c.date ? dateTime(c.date) : Date.now();
    },
    saveDate() {
      return Date.UTC(2024, 0, 1 + i); // RFC 8514: message i saved on 2024-01-(i+1)
    },
    header(field) {
      reads.header++;
      return Promise.resolve(headerValues(bytes, structure, field));
    },
    text(which) {
      reads.text++;
      return Promise.resolve(fold(messageText(bytes, structure, which)));
    },
    async sentDay() {
      const v = await this.header("date");
      return v.length ? parseDate(v[0])?.day ?? null : null;
    },
  };
  return m;
}

function dateTime(s: string): number {
  const m = /^(\d\d)-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d\d)(\d\d)$/.exec(s)!;
  const mon = "JanFebMarAprMayJunJulAugSepOctNovDec".indexOf(m[2]) / 3;
  const off = (Number(m[7]) * 60 + Math.sign(Number(m[7] + "1")) * Number(m[8])) * 60_000;
  return Date.UTC(+m[3], mon, +m[1], +m[4], +m[5], +m[6]) - off;
}

const CTX: SearchContext = {
  exists: CORPUS.length,
  lastUid: CORPUS.length * 10,
  keywordLetter: (name) =>
    ({ "$label1": "a", "work": "b" } as Record<string, string>)[
      name.toLowerCase()
    ],
  saved: [30, 50],
  now: Date.now(),
};

/** Tokens of a search program written as IMAP text (atoms, "quoted", parentheses). */
function tokens(text: string): Token[] {
  const out: Token[][] = [[]];
  const re = /\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))/gy;
  for (let m = re.exec(text); m && m[0].length; m = re.exec(text)) {
    if (m[1]) out.push([]);
    else if (m[2]) {
      const items = out.pop()!;
      out[out.length - 1].push({ kind: "list", items });
    } else if (m[3] !== undefined) out[out.length - 1].push(str(m[3].replace(/\\(.)/g, "$1")));
    else out[out.length - 1].push(tok(m[4]));
  }
  return out[0];
}

async function evalAll(program: string, recent: number[] = []): Promise<number[]> {
  const node = compileKey(parseSearchKeys(tokens(program)), CTX);
  const hits: number[] = [];
  for (let i = 0; i < CORPUS.length; i++) {
    if (await evaluate(node, corpusMessage(i, { recent: recent.includes(i + 1) }))) {
      hits.push(i + 1);
    }
  }
  return hits;
}

Deno.test("search keys: parser", () => {
  const p = (s: string) => parseSearchKeys(tokens(s));
  deepStrictEqual(p("NOT SEEN LARGER 100"), {
    op: "and",
    keys: [{ op: "not", key: { op: "flag", letter: "S", set: true } }, {
      op: "size",
      cmp: "larger",
      n: 100,
    }],
  });
  deepStrictEqual(p("OR (SEEN FLAGGED) $"), {
    op: "or",
    a: {
      op: "and",
      keys: [{ op: "flag", letter: "S", set: true }, { op: "flag", letter: "F", set: true }],
    },
    b: { op: "saved" },
  });
  deepStrictEqual(p("UID $"), { op: "saved" });
  deepStrictEqual(p("1:3,*"), {
    op: "seq",
    ranges: [{ from: 1, to: 3 }, { from: Infinity, to: Infinity }],
  });
  deepStrictEqual(p('HEADER X-Empty ""'), { op: "header", field: "x-empty", value: "" });
  deepStrictEqual(p("KEYWORD \\Seen"), { op: "flag", letter: "S", set: true });
  deepStrictEqual(p("unkeyword $Label1"), { op: "keyword", name: "$Label1", set: false });
  deepStrictEqual(p('SENTON "5-May-2023"'), {
    op: "date",
    cmp: "on",
    sent: true,
    day: Date.UTC(2023, 4, 5),
  });
  deepStrictEqual(p("YOUNGER 60"), { op: "within", cmp: "younger", seconds: 60 });
  deepStrictEqual(p("SMALLER 4294967296"), { op: "size", cmp: "smaller", n: 2 ** 32 });
  deepStrictEqual(p('MODSEQ "/flags/\\\\draft" all 620162338'), {
    op: "modseq",
    min: 620162338n,
  });
  deepStrictEqual(p("NEW OLD RECENT"), {
    op: "and",
    keys: [{ op: "new" }, { op: "recent", set: false }, { op: "recent", set: true }],
  });
  equal(parseDay("29-Feb-2024"), Date.UTC(2024, 1, 29));
  for (
    const bad of [
      "",
      "BOGUS",
      "OR SEEN",
      "NOT",
      "()",
      "BEFORE 31-Feb-2022",
      "BEFORE 1-Foo-2022",
      "SINCE yesterday",
      "LARGER -1",
      "LARGER 9223372036854775808",
      "YOUNGER 0",
      "UID 0",
      "UID",
      "0:4",
      "$,1",
      "KEYWORD \\Bogus",
      'HEADER "Bad Name" x',
      "SUBJECT",
      'SUBJECT ("x")',
      "MODSEQ 99999999999999999999",
      '"string"',
      "YOUNGER soon",
    ]
  ) {
    throws(() => p(bad), ImapError, bad);
  }
  // Nesting is bounded.
  throws(() => p("NOT ".repeat(60) + "SEEN"), ImapError);
});

Deno.test("search keys: compile folds constants and orders cheap keys first", () => {
  const c = (s: string): Node => compileKey(parseSearchKeys(tokens(s)), CTX);
  deepStrictEqual(c("KEYWORD Nope"), { op: "const", value: false });
  deepStrictEqual(c("UNKEYWORD nope"), { op: "const", value: true });
  deepStrictEqual(c("KEYWORD WORK"), { op: "flag", letter: "b", set: true });
  deepStrictEqual(c("ALL SEEN"), { op: "flag", letter: "S", set: true });
  deepStrictEqual(c("NOT NOT SEEN"), { op: "flag", letter: "S", set: true });
  deepStrictEqual(c("OR KEYWORD nope SEEN"), { op: "flag", letter: "S", set: true });
  deepStrictEqual(c("SEEN KEYWORD nope"), { op: "const", value: false });
  deepStrictEqual(c("$"), { op: "uids", set: new Set([30, 50]) });
  deepStrictEqual(c("2:*"), { op: "seq", ranges: [{ from: 2, to: 13 }] });
  const and = c('BODY "x" SUBJECT "y" BEFORE 1-Jan-2020 FLAGGED') as Extract<Node, { op: "and" }>;
  deepStrictEqual(and.nodes.map((n) => n.op), ["flag", "date", "header", "text"]);
  deepStrictEqual(compileKey(parseSearchKeys(tokens("1:*")), { ...CTX, exists: 0 }), {
    op: "const",
    value: false,
  });
});

Deno.test("search keys: evaluation touches content only when cheap keys cannot decide", () => {
  // Unseen message 3: SEEN fails first, synchronously; BODY is never read.
  const m = corpusMessage(2);
  const node = compileKey(parseSearchKeys(tokens('BODY "zebra" SEEN')), CTX);
  equal(evaluate(node, m), false);
  equal(m.reads.text, 0);
  // Flags, sizes, numbers: answered synchronously.
  const r = evaluate(compileKey(parseSearchKeys(tokens("FLAGGED LARGER 100 UID 30")), CTX), m);
  equal(r, true);
  deepStrictEqual(m.reads, { header: 0, text: 0, date: 0 });
});

Deno.test("search keys: evaluator answers on the corpus", async () => {
  deepStrictEqual(await evalAll("FLAGGED"), [3, 5, 11]);
  deepStrictEqual(await evalAll("NEW", [12, 13]), [12]);
  deepStrictEqual(await evalAll('BODY "invoice & receipt"'), [4]);
  deepStrictEqual(await evalAll('BODY "CRÈME BRÛLÉE"'), [5]);
  // NFD needle against NFC text.
  deepStrictEqual(await evalAll(`BODY "${"crème".normalize("NFD")}"`), [5]);
  deepStrictEqual(await evalAll('SUBJECT "éncoded words 🎉"'), [11]);
  deepStrictEqual(await evalAll("SENTON 5-May-2023"), [11]);
  deepStrictEqual(await evalAll("ON 1-Jan-2023"), [8]);
  deepStrictEqual(await evalAll("$"), [3, 5]);
  deepStrictEqual(await evalAll("OLDER 3600"), ALL.slice(0, 11));
  const m = { ...corpusMessage(0), modseq: 7n };
  const node = compileKey(parseSearchKeys(tokens("MODSEQ 7")), CTX);
  equal(evaluate(node, m), true);
  equal(evaluate(node, { ...m, modseq: 6n }), false);
  equal(evaluate(node, { ...m, modseq: undefined }), false);
});

// ---------------------------------------------------------------------------------------
// Through the real daemon.

/** Numbers of the `* SEARCH` response (sorted), or throws when there is none. */
function searchNums(lines: string[]): number[] {
  const l = lines.find((x) => x.startsWith("* SEARCH"));
  if (l === undefined) throw new Error(`no SEARCH response in ${JSON.stringify(lines)}`);
  return l.slice(8).trim().split(" ").filter(Boolean).map(Number);
}

/** A literal argument (LITERAL+), for 8-bit search strings. */
const lit = (s: string) => `{${enc.encode(s).length}+}\r\n${s}`;

Deno.test("imap SEARCH: every key against the corpus", async (t) => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const c = await ImapClient.connect(srv.ports.imap);
  try {
    await c.login(USER, PASS);
    const append = async (i: number) => {
      const { file, flags, date } = CORPUS[i];
      const data = Deno.readFileSync(join(DIR, file));
      const tag = c.nextTag();
      const head = `${tag} APPEND INBOX (${flags})${date ? ` "${date}"` : ""} {${data.length}+}`;
      await c.line.write(enc.encode(head + "\r\n"));
      await c.line.write(data);
      await c.line.write("\r\n");
      const r = await c.result(tag);
      equal(r.status, "OK", r.tagged);
    };
    for (let i = 0; i < 11; i++) await append(i);
    // Another session selects first and takes the appended messages' \Recent (RFC 3501
    // §2.3.2: the first session told of a message).
    const other = await ImapClient.connect(srv.ports.imap);
    await other.login(USER, PASS);
    ok((await other.cmd("SELECT INBOX")).lines.includes("* 11 RECENT"));
    other.close();
    // The last two arrive by delivery (into new/), so this session's SELECT makes them
    // \Recent; 13 is then marked \Seen.
    for (const i of [11, 12]) {
      await seed.store.deliver(
        [{ root: seed.roots[USER] }],
        Deno.readFileSync(join(DIR, CORPUS[i].file)),
      );
    }
    const sel = await c.cmd("SELECT INBOX");
    ok(sel.lines.includes("* 13 EXISTS"), sel.lines.join("\n"));
    ok(sel.lines.includes("* 2 RECENT"), sel.lines.join("\n"));
    equal((await c.cmd("STORE 13 +FLAGS.SILENT (\\Seen)")).status, "OK");

    const cases: [string, number[]][] = [
      ["ALL", ALL],
      ["ANSWERED", [2, 9]],
      ["UNANSWERED", except(2, 9)],
      ["DELETED", [6]],
      ["UNDELETED", except(6)],
      ["DRAFT", [7]],
      ["UNDRAFT", except(7)],
      ["FLAGGED", [3, 5, 11]],
      ["UNFLAGGED", except(3, 5, 11)],
      ["SEEN", [1, 2, 5, 6, 8, 9, 13]],
      ["UNSEEN", [3, 4, 7, 10, 11, 12]],
      ["RECENT", [12, 13]],
      ["OLD", except(12, 13)],
      ["NEW", [12]],
      ["KEYWORD $Label1", [4, 5]],
      ["KEYWORD work", [5]],
      ["KEYWORD Nope", []],
      ["UNKEYWORD $Label1", except(4, 5)],
      ["UNKEYWORD Nope", ALL],
      ['BCC "secret-bcc"', [6]],
      ["CC carol", [1]],
      ["CC ivan", [11]], // folded address list
      ['FROM "alice@example.org"', [1]],
      [`FROM ${lit("JÖRG")}`, [2]], // RFC 2047 Q, ISO-8859-1, case-insensitive
      [`FROM ${lit("олег")}`, [3]], // RFC 2047 B, UTF-8, Cyrillic case folding
      [`FROM ${lit("café bistro")}`, [5]],
      ["FROM mallory", [12, 13]],
      ["TO dave", [5]],
      ['TO "bob@example.com"', except(9)],
      [`SUBJECT ${lit("grüße")}`, [2]],
      [`SUBJECT ${lit("москвы")}`, [3]],
      [`SUBJECT ${lit("会議")}`, [7]], // ISO-2022-JP
      [`SUBJECT ${lit("отчёт")}`, [8]], // KOI8-R
      [`SUBJECT ${lit("éncoded words 🎉")}`, [11]], // split across encoded words
      ["SUBJECT zeta", []], // only the attached message's subject
      ['SUBJECT "fresh delivery"', [12, 13]],
      ['HEADER X-Mailer "testmailer"', [9]],
      ['HEADER X-Empty ""', [9]], // empty string: the field is present
      ['HEADER X-Missing ""', []],
      ['HEADER Subject ""', ALL],
      ['HEADER Message-ID "s05@"', [5]],
      ['HEADER Received "relay39.example.net"', [10]], // header too big for the cache
      ['BODY "quarterly numbers"', [1]],
      ['BODY "Quarterly Report"', []], // the subject is not body text
      [`BODY ${lit("schöne grüße")}`, [2]], // quoted-printable, ISO-8859-1
      ['BODY "geschlossen"', [2]], // across a soft line break
      ['BODY "zebra-42"', [3]], // base64, UTF-8
      [`BODY ${lit("пятницу")}`, [3]],
      ['BODY "invoice & receipt"', [4]], // HTML: tags and entities
      ['BODY "color:red"', []], // HTML style is not text
      ['BODY "hidden-comment"', []],
      [`BODY ${lit("crème brûlée")}`, [5]], // 8bit and base64 HTML alternatives
      ['BODY "SECRETPDFWORD"', []], // attachments are not text
      ['BODY "omega"', [6]], // an attached message's body
      ['BODY "zeta"', [6]], // ... and its header
      [`BODY ${lit("十時")}`, [7]], // Shift_JIS
      [`BODY ${lit("“curly quotes”")}`, [8]], // windows-1252
      [`BODY ${lit("naïve résumé")}`, [8]],
      ['BODY "needle-in-haystack"', [10]],
      ['BODY ""', ALL],
      ['TEXT "quarterly report"', [1]],
      ['TEXT "secret-bcc"', [6]],
      ['TEXT "zeta"', [6]],
      ['TEXT "nominal"', [9]],
      [`TEXT ${lit("köln")}`, [2]],
      ["BEFORE 4-Jan-2022", [1]],
      ["BEFORE 3-Jan-2022", []],
      ["BEFORE 1-Jun-2022", [1, 2, 3]],
      ["ON 31-May-2022", [3]],
      ["ON 1-Jun-2022", []],
      ["ON 16-Feb-2022", [2]],
      ["ON 1-Jan-2023", [8]], // appended as 31-Dec-2022 20:00 -0500
      ["SINCE 1-Jan-2023", [8, 9, 10, 11, 12, 13]],
      ['SINCE "5-May-2023" BEFORE 6-May-2023', [11]],
      ["SENTBEFORE 1-Jun-2022", [1, 2]],
      ["SENTON 1-Jun-2022", [3]], // written +0300, 31 May in UTC
      ["SENTON 15-Feb-2022", [2]], // written -0500, 16 Feb in UTC
      ["SENTON 15-Mar-2023", [9]], // no Date: the internal date
      ["SENTON 5-May-2023", [11]], // obsolete syntax: 2-digit year, EST
      ["SENTSINCE 5-May-2023", [11, 12, 13]],
      ["LARGER 20000", [10]],
      ["LARGER 28653", []],
      ["LARGER 28652", [10]],
      ["SMALLER 164", [9]],
      ["SMALLER 163", []],
      ["NOT SEEN", [3, 4, 7, 10, 11, 12]],
      ["NOT NOT SEEN", [1, 2, 5, 6, 8, 9, 13]],
      ["OR FLAGGED DRAFT", [3, 5, 7, 11]],
      ["OR OR ANSWERED DELETED DRAFT", [2, 6, 7, 9]],
      ["(SEEN FLAGGED)", [5]],
      ["OR (SEEN FLAGGED) (DELETED)", [5, 6]],
      ["NOT (SEEN ANSWERED)", except(2, 9)],
      ["SEEN (OR ANSWERED (DELETED)) NOT 9", [2, 6]],
      ["2:4", [2, 3, 4]],
      ["12:*", [12, 13]],
      ["*", [13]],
      ["1,3,5", [1, 3, 5]],
      ["20:*", [13]], // "n:*" always includes the last message
      ["14", []],
      ["UID 2:3", [2, 3]],
      ["UID 12:*", [12, 13]],
      ["UID 99", []],
      ["YOUNGER 3600", [12, 13]],
      ["OLDER 3600", except(12, 13)],
      ['FLAGGED BODY "zebra" SINCE 1-Jan-2022', [3]],
    ];
    for (const [program, want] of cases) {
      await t.step(`SEARCH ${program.replace(/\{\d+\+\}\r\n/, "")}`, async () => {
        const r = await c.cmd(`SEARCH ${program}`);
        equal(r.status, "OK", r.tagged);
        deepStrictEqual(searchNums(r.lines), want);
      });
    }

    await t.step("UID SEARCH answers with UIDs", async () => {
      const r = await c.cmd("UID SEARCH UID 10:* UNSEEN");
      deepStrictEqual(searchNums(r.lines), [10, 11, 12]);
    });

    await t.step("CHARSET UTF-8 and US-ASCII; others: NO [BADCHARSET]", async () => {
      let r = await c.cmd(`SEARCH CHARSET UTF-8 SUBJECT ${lit("Grüße")}`);
      deepStrictEqual(searchNums(r.lines), [2]);
      r = await c.cmd('SEARCH CHARSET "us-ascii" FROM alice');
      deepStrictEqual(searchNums(r.lines), [1]);
      r = await c.cmd("SEARCH CHARSET ISO-8859-1 FROM alice");
      match(r.tagged, /^t\d+ NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/);
    });

    await t.step("malformed SEARCH is BAD and the session goes on", async () => {
      for (
        const bad of [
          "SEARCH",
          "SEARCH BOGUS",
          "SEARCH BEFORE 31-Feb-2022",
          "SEARCH OR SEEN",
          "SEARCH (SEEN",
          "SEARCH RETURN (FOO) ALL",
          "SEARCH RETURN ALL",
          "SEARCH UID 0",
          "SEARCH LARGER x",
        ]
      ) {
        const r = await c.cmd(bad);
        equal(r.status, "BAD", `${bad}: ${r.tagged}`);
      }
      equal((await c.cmd("NOOP")).status, "OK");
    });

    await t.step("ESEARCH: RETURN (MIN MAX COUNT ALL)", async () => {
      let r = await c.cmd("SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED");
      const tag = r.tagged.split(" ")[0];
      deepStrictEqual(r.lines, [`* ESEARCH (TAG "${tag}") MIN 3 MAX 11 COUNT 3 ALL 3,5,11`]);
      r = await c.cmd("UID SEARCH RETURN (COUNT) SEEN");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\) UID COUNT 7$/);
      r = await c.cmd("SEARCH RETURN () 2:5");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\) ALL 2:5$/);
      r = await c.cmd("SEARCH RETURN (MIN MAX ALL) KEYWORD Nope");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\)$/);
      r = await c.cmd("SEARCH RETURN (COUNT) DELETED");
      match(r.lines[0], /COUNT 1$/);
    });

    await t.step("SEARCHRES: SAVE, $ in SEARCH/FETCH/STORE/COPY/MOVE/UID, reset", async () => {
      // Work on a copy so the corpus above stays as it is.
      equal((await c.cmd("CREATE Work")).status, "OK");
      equal((await c.cmd("COPY 1:13 Work")).status, "OK");
      equal((await c.cmd("SELECT Work")).status, "OK");
      // "$" before any SAVE: the empty set, not an error.
      let r = await c.cmd("FETCH $ (FLAGS)");
      deepStrictEqual([r.status, r.lines], ["OK", []]);
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), []);
      // SAVE alone: no ESEARCH response at all.
      r = await c.cmd("SEARCH RETURN (SAVE) FLAGGED");
      deepStrictEqual([r.status, r.lines], ["OK", []]);
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), [3, 5, 11]);
      r = await c.cmd("SEARCH $ SEEN");
      deepStrictEqual(searchNums(r.lines), [5]);
      r = await c.cmd("UID SEARCH NOT UID $");
      deepStrictEqual(searchNums(r.lines), except(3, 5, 11));
      r = await c.cmd("FETCH $ (UID)");
      deepStrictEqual(r.lines, ["* 3 FETCH (UID 3)", "* 5 FETCH (UID 5)", "* 11 FETCH (UID 11)"]);
      r = await c.cmd("UID FETCH $ (FLAGS)");
      equal(r.lines.length, 3);
      r = await c.cmd("STORE $ +FLAGS.SILENT (\\Answered)");
      equal(r.status, "OK");
      r = await c.cmd("SEARCH ANSWERED");
      deepStrictEqual(searchNums(r.lines), [2, 3, 5, 9, 11]);
      // SAVE with other options: ESEARCH still comes; MIN MAX alone save only those.
      r = await c.cmd("UID SEARCH RETURN (SAVE MIN MAX) UNSEEN");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\) UID MIN 3 MAX 12$/);
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), [3, 12]);
      r = await c.cmd("SEARCH RETURN (SAVE COUNT MIN) UNSEEN");
      match(r.lines[0], /MIN 3 COUNT 6$/);
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), [3, 4, 7, 10, 11, 12]);
      // COPY and MOVE with "$"; MOVE expunges, and "$" follows the renumbering.
      equal((await c.cmd("CREATE Other")).status, "OK");
      r = await c.cmd("COPY $ Other");
      match(r.tagged, /OK \[COPYUID \d+ 3:4,7,10:12 1:6\]/);
      r = await c.cmd("SEARCH RETURN (SAVE) 1:2");
      r = await c.cmd("MOVE $ Other");
      equal(r.status, "OK");
      deepStrictEqual(r.lines.filter((l) => l.endsWith("EXPUNGE")), ["* 2 EXPUNGE", "* 1 EXPUNGE"]);
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), []); // the moved messages left the variable
      r = await c.cmd("FETCH $ (FLAGS)");
      deepStrictEqual([r.status, r.lines], ["OK", []]);
      // UID EXPUNGE $.
      r = await c.cmd("SEARCH RETURN (SAVE) DELETED");
      r = await c.cmd("UID EXPUNGE $");
      deepStrictEqual(r.lines, ["* 4 EXPUNGE"]);
      // A NO (bad charset) with SAVE empties the variable; a BAD leaves it alone.
      r = await c.cmd("SEARCH RETURN (SAVE) FLAGGED");
      r = await c.cmd("SEARCH RETURN (SAVE) BOGUS");
      equal(r.status, "BAD");
      r = await c.cmd("UID SEARCH $");
      deepStrictEqual(searchNums(r.lines), [3, 5, 11]);
      r = await c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R FLAGGED");
      equal(r.status, "NO");
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), []);
      // SELECT resets it.
      r = await c.cmd("SEARCH RETURN (SAVE) ALL");
      equal((await c.cmd("SELECT Work")).status, "OK");
      r = await c.cmd("SEARCH $");
      deepStrictEqual(searchNums(r.lines), []);
    });

    await t.step("MODSEQ: enables CONDSTORE, then the RFC 7162 result", async () => {
      match((await c.cmd("CAPABILITY")).lines[0], / CONDSTORE\b/);
      equal((await c.cmd("SELECT INBOX")).status, "OK");
      // RFC 7162 §3.1: the first enabling command reports HIGHESTMODSEQ before its result.
      let r = await c.cmd("SEARCH MODSEQ 1 FLAGGED");
      match(r.lines[0], /^\* OK \[HIGHESTMODSEQ \d+\]/);
      match(r.lines[1], /^\* SEARCH 3 5 11 \(MODSEQ \d+\)$/);
      r = await c.cmd("SEARCH MODSEQ 1 FLAGGED");
      equal(r.lines.length, 1);
      match(r.lines[0], /^\* SEARCH 3 5 11 \(MODSEQ \d+\)$/);
    });

    await t.step("IMAP4rev2 sessions get ESEARCH", async () => {
      equal((await c.cmd("ENABLE IMAP4rev2")).status, "OK");
      equal((await c.cmd("SELECT INBOX")).status, "OK");
      let r = await c.cmd("SEARCH FLAGGED");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\) ALL 3,5,11$/);
      r = await c.cmd("UID SEARCH KEYWORD Nope");
      match(r.lines[0], /^\* ESEARCH \(TAG "t\d+"\) UID$/);
      r = await c.cmd("CAPABILITY");
      match(r.lines[0], / ESEARCH .*SEARCHRES.* WITHIN/);
    });
  } finally {
    c.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
