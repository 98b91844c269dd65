/** Unit tests of the pure IMAP command parser and argument helpers. */
import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { CommandParser, type ParseEvent, type Token } from "../src/imap/parser.ts";
import {
  formatSet,
  ImapError,
  mailboxName,
  parseDateTime,
  parseSearchDate,
  parseSequenceSet,
} from "../src/imap/args.ts";
import { parseSearchKeys } from "../src/imap/search.ts";
import { parseFetchItems } from "../src/imap/fetch.ts";
import { compileMailboxPattern } from "../src/imap/glob.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const limits = { maxLiteral: 1000, maxLine: 200 };

function feed(p: CommandParser, text: string | Uint8Array): ParseEvent[] {
  p.push(typeof text === "string" ? enc.encode(text) : text);
  const out: ParseEvent[] = [];
  for (;;) {
    const ev = p.next();
    if (ev.kind === "more") return out;
    out.push(ev);
    if (ev.kind === "spool") return out; // the session stores the literal, then goes on
  }
}

function show(t: Token): unknown {
  if (t.kind === "atom") return t.value;
  if (t.kind === "string") return (t.literal ? "L:" : "Q:") + dec.decode(t.bytes);
  if (t.kind === "file") return `F:${t.file.path}:${t.file.size}`;
  return t.items.map(show);
}

function command(evs: ParseEvent[]) {
  const ev = evs.find((e) => e.kind === "command");
  if (!ev || ev.kind !== "command") throw new Error(`no command in ${JSON.stringify(evs)}`);
  return { tag: ev.command.tag, name: ev.command.name, args: ev.command.args.map(show) };
}

Deno.test("parser: atoms, quoted strings, lists, fetch atts with brackets", () => {
  const p = new CommandParser(limits);
  const c = command(feed(
    p,
    'a1 uid fetch 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From "To")]<0.100>) "q \\" \\\\"\r\n',
  ));
  equal(c.tag, "a1");
  equal(c.name, "UID");
  deepStrictEqual(c.args, [
    "fetch",
    "1:*,5",
    ["FLAGS", 'BODY.PEEK[HEADER.FIELDS (From "To")]<0.100>'],
    'Q:q " \\',
  ]);
});

Deno.test("parser: synchronizing literal asks for continuation; byte-by-byte input", () => {
  const p = new CommandParser(limits);
  const text = "A2 LOGIN {3}\r\nbob {6}\r\nse\r\ncr\r\n";
  const events: ParseEvent[] = [];
  for (const b of enc.encode(text)) events.push(...feed(p, new Uint8Array([b])));
  deepStrictEqual(events.filter((e) => e.kind === "continue").map((e) => e.kind), [
    "continue",
    "continue",
  ]);
  deepStrictEqual(command(events).args, ["L:bob", "L:se\r\ncr"]);
});

Deno.test("parser: LITERAL+ needs no continuation; literal8 accepted", () => {
  const p = new CommandParser(limits);
  const evs = feed(p, "A3 APPEND INBOX (\\Seen) {5+}\r\nhello UTF8 (~{2+}\r\nhi)\r\n");
  ok(!evs.some((e) => e.kind === "continue"));
  deepStrictEqual(command(evs).args, ["INBOX", ["\\Seen"], "L:hello", "UTF8", ["L:hi"]]);
});

Deno.test("parser: oversized literals are refused; LITERAL+ bytes are skipped", () => {
  const p = new CommandParser(limits);
  const evs = feed(p, "A4 APPEND INBOX {5000}\r\n");
  equal(evs.length, 1);
  ok(evs[0].kind === "error" && evs[0].tag === "A4" && evs[0].code === "TOOBIG");
  // Non-synchronizing: the client sends the bytes anyway; they must not run as commands.
  const evs2 = feed(p, `A5 APPEND INBOX {1200+}\r\n${"x".repeat(1191)}A6 NOOP\r\n\r\nA7 NOOP\r\n`);
  const kinds = evs2.map((e) => e.kind === "command" ? e.command.tag : e.kind);
  deepStrictEqual(kinds, ["error", "A7"]);
});

Deno.test("parser: malformed input gives errors with the tag, never throws", () => {
  const p = new CommandParser(limits);
  const cases: [string, string | null][] = [
    ["\r\n", null],
    ["+ x\r\n", null],
    ["a1\r\n", "a1"],
    ['a2 LOGIN "unterminated\r\n', "a2"],
    ["a3 FETCH 1 (FLAGS\r\n", "a3"],
    ["a4 FETCH 1 BODY[TEXT\r\n", "a4"],
    ["a5 LOGIN {3}x\r\n", "a5"],
    ['a6 LOGIN "bad \\q escape"\r\n', "a6"],
  ];
  for (const [text, tag] of cases) {
    const evs = feed(p, text);
    equal(evs.length, 1, text);
    ok(evs[0].kind === "error", text);
    equal((evs[0] as { tag: string | null }).tag, tag, text);
  }
  // Over-long line: an error, then normal service.
  const evs = feed(p, `a7 NOOP ${"x".repeat(500)}\r\na8 NOOP\r\n`);
  deepStrictEqual(evs.map((e) => e.kind), ["error", "command"]);
});

Deno.test("parser: random bytes never throw and never wedge the parser", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = enc.encode('a1 ()[]{}"\\*%+~0123456789\r\nFETCH BODY LOGIN\x00\xff');
  for (let round = 0; round < 300; round++) {
    const p = new CommandParser({ maxLiteral: 64, maxLine: 100 });
    const bytes = new Uint8Array(Math.floor(rand() * 300));
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = alphabet[Math.floor(rand() * alphabet.length)];
    }
    feed(p, bytes);
    // Flush any literal in progress, then a sane command must come through.
    feed(p, "x".repeat(p.literalRemaining) + "\r\n\r\n");
    if (p.literalRemaining === 0) {
      const evs = feed(p, "z9 NOOP\r\n");
      ok(evs.some((e) => e.kind === "command" && e.command.tag === "z9"), `round ${round}`);
    }
  }
});

Deno.test("args: sequence sets, dates, mailbox names", () => {
  deepStrictEqual(parseSequenceSet("1:3,7,*:5"), [
    { from: 1, to: 3 },
    { from: 7, to: 7 },
    { from: 5, to: Infinity },
  ]);
  throws(() => parseSequenceSet("0"), ImapError);
  throws(() => parseSequenceSet("1:"), ImapError);
  equal(formatSet([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
  equal(parseSearchDate("1-Feb-1994"), Date.UTC(1994, 1, 1));
  equal(parseDateTime("17-Jul-1996 02:44:25 -0700"), Date.UTC(1996, 6, 17, 9, 44, 25));
  equal(parseDateTime(" 7-Jul-1996 02:44:25 +0000"), Date.UTC(1996, 6, 7, 2, 44, 25));
  throws(() => parseDateTime("17-Foo-1996 02:44:25 -0700"), ImapError);
  equal(mailboxName("inbox", false), "INBOX");
  equal(mailboxName("Entw&APw-rfe", false), "Entwürfe");
  equal(mailboxName("Entw&APw-rfe", true), "Entw&APw-rfe");
  equal(mailboxName("a/b/", false), "a/b");
  throws(() => mailboxName("bad&Jjo", false), ImapError);
});

Deno.test("search keys and fetch items parse", () => {
  const tok = (v: string): Token => ({ kind: "atom", value: v });
  deepStrictEqual(parseSearchKeys([tok("NOT"), tok("SEEN"), tok("LARGER"), tok("100")]), {
    op: "and",
    keys: [{ op: "not", key: { op: "flag", letter: "S", set: true } }, {
      op: "size",
      cmp: "larger",
      n: 100,
    }],
  });
  throws(() => parseSearchKeys([tok("BOGUS")]), ImapError);
  throws(() => parseSearchKeys([tok("OR"), tok("SEEN")]), ImapError);
  const items = parseFetchItems({ kind: "atom", value: "BODY.PEEK[1.2.MIME]<10.20>" });
  equal(items.length, 1);
  const it = items[0] as { label: string; offset: number; length: number; peek: boolean };
  deepStrictEqual([it.label, it.offset, it.length, it.peek], ["BODY[1.2.MIME]", 10, 20, true]);
  equal(parseFetchItems({ kind: "atom", value: "ALL" }).length, 4);
  throws(() => parseFetchItems({ kind: "atom", value: "BODY[FOO]" }), ImapError);
});

Deno.test("LIST patterns", () => {
  ok(compileMailboxPattern("*").test("a/b/c"));
  ok(compileMailboxPattern("%").test("abc"));
  ok(!compileMailboxPattern("%").test("a/b"));
  ok(compileMailboxPattern("inbox").test("INBOX"));
  ok(compileMailboxPattern("a/%").test("a/b"));
  ok(!compileMailboxPattern("a.b").test("axb"));
});

Deno.test("parser: literal memory is taken as data arrives, not when announced", () => {
  const p = new CommandParser({ maxLiteral: 2_000_000_000, maxLine: 200 });
  const before = Deno.memoryUsage().rss;
  const evs = feed(p, "A8 X-TEST {1500000000}\r\n");
  deepStrictEqual(evs.map((e) => e.kind), ["continue"]);
  equal(p.literalRemaining, 1_500_000_000);
  feed(p, "part of it");
  equal(p.literalRemaining, 1_500_000_000 - 10);
  const grown = (Deno.memoryUsage().rss - before) / 1048576;
  ok(grown < 64, `announcing 1.5 GB took ${grown.toFixed(0)} MiB`);
  // The pieces are joined once complete.
  const q = new CommandParser({ maxLiteral: 100, maxLine: 200 });
  feed(q, "A9 LOGIN {10}\r\n");
  feed(q, "abc");
  feed(q, "defg");
  deepStrictEqual(command(feed(q, "hij x\r\n")).args, ["L:abcdefghij", "x"]);
});

Deno.test("parser: the literal limit can change; refusals say sync or nonsync", () => {
  const p = new CommandParser({ maxLiteral: 8192, maxLine: 200 });
  const sync = feed(p, "B1 LOGIN {9000}\r\n");
  ok(sync[0].kind === "error" && sync[0].code === "TOOBIG" && sync[0].literal === "sync");
  const nonsync = feed(p, "B2 LOGIN {9000+}\r\n");
  ok(nonsync[0].kind === "error" && nonsync[0].literal === "nonsync");
  feed(p, "y".repeat(9000) + "\r\n"); // skipped with the rest of its line, never a command
  p.maxLiteral = 20_000;
  deepStrictEqual(feed(p, "B3 LOGIN {9000}\r\n").map((e) => e.kind), ["continue"]);
});

Deno.test("parser: large APPEND literals are handed to the session to store in a file", () => {
  const p = new CommandParser({ maxLiteral: 10_000_000, maxLine: 200, spoolAbove: 1000 });
  // Synchronizing: "+" first, then the spool request.
  deepStrictEqual(feed(p, "C1 APPEND INBOX (\\Seen) {5000}\r\n").map((e) => e.kind), [
    "continue",
    "spool",
  ]);
  equal(p.literalRemaining, 5000);
  p.spooled({ path: "/spool/f1", size: 5000 });
  deepStrictEqual(command(feed(p, "\r\n")).args, ["INBOX", ["\\Seen"], "F:/spool/f1:5000"]);
  // LITERAL+: the spool request at once; small literals and other commands stay in memory.
  deepStrictEqual(feed(p, "C2 APPEND INBOX {3000+}\r\n").map((e) => e.kind), ["spool"]);
  p.spooled({ path: "/spool/f2", size: 3000 });
  deepStrictEqual(command(feed(p, "\r\n")).args, ["INBOX", "F:/spool/f2:3000"]);
  deepStrictEqual(command(feed(p, "C3 APPEND INBOX {5+}\r\nhello\r\n")).args, [
    "INBOX",
    "L:hello",
  ]);
  const search = feed(p, "C4 SEARCH TEXT {1500+}\r\n" + "z".repeat(1500) + "\r\n");
  equal(command(search).args[1], "L:" + "z".repeat(1500));
  // A literal that could not be stored: the command is refused, its rest skipped.
  feed(p, "C5 APPEND INBOX {2000+}\r\n");
  const refused = p.spoolFailed();
  ok(refused.kind === "error" && refused.tag === "C5");
  deepStrictEqual(command(feed(p, " more {4+}\r\nabcd\r\nC6 NOOP\r\n")).tag, "C6");
});

Deno.test("pushLine: whole lines as the session reads them, literals and errors between", () => {
  const p = new CommandParser(limits);
  const take = () => {
    const out: ParseEvent[] = [];
    for (let ev = p.next(); ev.kind !== "more"; ev = p.next()) out.push(ev);
    return out;
  };
  p.pushLine(enc.encode("a1 FETCH 1 BODY.PEEK[]"));
  const first = command(take());
  deepStrictEqual([first.tag, first.name, first.args], ["a1", "FETCH", [
    "1",
    "BODY.PEEK[]",
  ]]);
  // A line announcing a literal, the literal's octets, then the rest of the command.
  p.pushLine(enc.encode("a2 LOGIN {3}"));
  deepStrictEqual(take(), [{ kind: "continue", size: 3 }]);
  equal(p.literalRemaining, 3);
  p.push(enc.encode("bob"));
  p.pushLine(enc.encode(" pw"));
  const login = command(take());
  deepStrictEqual([login.tag, login.args], ["a2", ["L:bob", "pw"]]);
  // A line pushed while bytes are pending goes after them, in order.
  p.push(enc.encode("a3 NOOP\r\na4 "));
  p.pushLine(enc.encode("CHECK"));
  deepStrictEqual(take().map((e) => e.kind === "command" ? e.command.tag : e.kind), [
    "a3",
    "a4",
  ]);
  // An overlong line is refused like one pushed as bytes; the next line parses.
  p.pushLine(enc.encode("a5 NOOP " + "x".repeat(300)));
  const refused = take();
  equal(refused.length, 1);
  equal(refused[0].kind === "error" && refused[0].code, "TOOBIG");
  p.pushLine(enc.encode("a6 NOOP"));
  equal(command(take()).tag, "a6");
});
