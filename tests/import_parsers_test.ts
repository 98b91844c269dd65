/**
 * The import's parsers (SPEC §11), pure functions over bytes: other servers' UID lists,
 * keyword and subscription files, Maildir info flags, and mbox splitting/conversion.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "./helpers/assert.ts";
import { maildirBase, parseUidList } from "../src/import/source_uids.ts";
import {
  applyCourierKeywordUpdates,
  maildirFlags,
  parseCourierKeywordList,
  parseDovecotKeywords,
} from "../src/import/source_keywords.ts";
import {
  parseCourierSubscriptions,
  parseDovecotSubscriptions,
} from "../src/import/source_subscriptions.ts";
import { type MboxEntry, MboxFormatError, MboxSplitter } from "../src/import/mbox.ts";
import { convertMboxEntry, fromLineDate, unquoteFromLines } from "../src/import/mbox_message.ts";
import { ImportReport } from "../src/import/progress.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("dovecot-uidlist v3: header fields in any order, extension fields, names by base", () => {
  const list = parseUidList(
    "3 G3085f01b7f11094c501100008c4a11c1 N25022 V1275660208\n" +
      "25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n" +
      "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n" +
      "25018 W12 G0a0b0c0d O3 :1276533074.M1P1.kurkku\n" +
      "garbage line\n" +
      "25019\n",
  )!;
  assertEquals(list.uidValidity, 1275660208);
  assertEquals(list.nextUid, 25022);
  assertEquals([...list.byBase], [
    ["1276528487.M364837P9451.kurkku,S=1355,W=1394", 25006],
    ["1276533073.M242911P3632.kurkku", 25017],
    ["1276533074.M1P1.kurkku", 25018],
  ]);
  assertEquals(list.badLines, 2);
});

Deno.test("dovecot-uidlist: the next UID stays above entries appended after the header", () => {
  // Dovecot appends lines without rewriting the header (seen: "N5" with UID 5 listed).
  const list = parseUidList("3 V1796532180 N5 Gabc\n1 :a\n5 :b\n")!;
  assertEquals(list.nextUid, 6);
});

Deno.test("dovecot-uidlist v1 and courierimapuiddb share one format", () => {
  const v1 = parseUidList("1 1073487224 12\n3 1073487000.123_4.host:2,S\n7 1073487100.5_6.host\n")!;
  assertEquals(v1.uidValidity, 1073487224);
  assertEquals(v1.nextUid, 12);
  assertEquals(v1.byBase.get("1073487000.123_4.host"), 3);
  assertEquals(v1.byBase.get("1073487100.5_6.host"), 7);
  // A base listed twice keeps its first UID.
  assertEquals(parseUidList("1 5 3\n1 a\n2 a\n")!.byBase.get("a"), 1);
});

Deno.test("uid lists of unknown versions or without UIDVALIDITY are not used", () => {
  assertEquals(parseUidList("2 123 4\n1 :a\n"), null);
  assertEquals(parseUidList("3 N4 Gabc\n1 :a\n"), null);
  assertEquals(parseUidList("1 0 3\n"), null);
  assertEquals(parseUidList(""), null);
  assertEquals(maildirBase("123.M1P2.host,S=5:2,RS"), "123.M1P2.host,S=5");
});

Deno.test("Maildir info letters and Dovecot keyword letters become IMAP flags", () => {
  const kws = parseDovecotKeywords("0 $Label1\n1 Important\n3 $Forwarded\nbad\n30 toolate\n");
  assertEquals(kws[0], "$Label1");
  assertEquals(kws[3], "$Forwarded");
  assertEquals(kws.length, 4);
  assertEquals(maildirFlags("1.M1P1.h,S=3:2,DFPRSTabcd", kws).sort(), [
    "$Forwarded",
    "$Label1",
    "Important",
    "\\Answered",
    "\\Deleted",
    "\\Draft",
    "\\Flagged",
    "\\Seen",
  ]);
  // Dovecot's non-standard fields after a comma carry no flags; new/ files have no info.
  assertEquals(maildirFlags("1.M1P1.h:2,S,ZZZa", kws), ["\\Seen"]);
  assertEquals(maildirFlags("1.M1P1.h,S=3", kws), []);
});

Deno.test("Courier keywords: :list mapping, then pending update files", () => {
  const list = parseCourierKeywordList(
    "$Label1\nJunk\nWork\n\n100.a.host:0 2\n101.b.host:1\n102.c.host:\nbroken\n",
  );
  assertEquals(list.get("100.a.host"), ["$Label1", "Work"]);
  assertEquals(list.get("101.b.host"), ["Junk"]);
  assertEquals(list.get("102.c.host"), []);
  const applied = applyCourierKeywordUpdates(list, [
    { name: ".3.101.b.host", text: "Old\n" },
    { name: ".7.101.b.host", text: "Newest\nJunk\n" },
    { name: ".9.103.d.host", text: "Numbered\n" },
    { name: "103.d.host", text: "Plain\n" },
  ]);
  assertEquals(applied.get("100.a.host"), ["$Label1", "Work"]);
  assertEquals(applied.get("101.b.host"), ["Newest", "Junk"]);
  assertEquals(applied.get("103.d.host"), ["Plain"]);
});

Deno.test("subscriptions: Dovecot v2 and v1, Courier", () => {
  assertEquals(
    parseDovecotSubscriptions("V\t2\n\nWork\tSub\nINBOX\n&AMk-t&AOk-\n", []),
    ["Work/Sub", "INBOX", "Été"],
  );
  assertEquals(
    parseDovecotSubscriptions("Work.Sub\nSent\nlists/deno\nversion.2\n", ["Work/Sub"]),
    ["Work/Sub", "Sent", "lists/deno", "version.2"],
  );
  assertEquals(
    parseCourierSubscriptions("INBOX\nINBOX.Sent\nINBOX.Work.Sub\nINBOX.Caf&AOk-\n"),
    ["INBOX", "Sent", "Work/Sub", "Café"],
  );
});

function split(text: string, chunk = 0): MboxEntry[] {
  const bytes = enc.encode(text);
  const s = new MboxSplitter();
  const out: MboxEntry[] = [];
  if (chunk === 0) out.push(...s.push(bytes));
  else for (let i = 0; i < bytes.length; i += chunk) out.push(...s.push(bytes.slice(i, i + chunk)));
  out.push(...s.end());
  return out;
}

const MBOXRD = "From alice@example.org Thu Dec  6 04:42:48 2024\n" +
  "Subject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, Work\n\n" +
  ">From the start\n>>From twice\nFrom: not a separator (no space after From)\n" +
  "Fromage\n\n" +
  "From bob@example.org Fri Dec  7 10:00:00 2024\n" +
  "Subject: two\n\nbody two\n\n";

Deno.test("mboxrd: From_ lines split, >From loses one >, metadata headers become flags", () => {
  for (const chunk of [0, 1, 7, 64]) {
    const entries = split(MBOXRD, chunk);
    assertEquals(entries.length, 2, `chunk ${chunk}`);
    const one = convertMboxEntry(entries[0]);
    assertEquals(
      dec.decode(one.data),
      "Subject: one\r\n\r\nFrom the start\r\n>From twice\r\n" +
        "From: not a separator (no space after From)\r\nFromage\r\n",
    );
    assertEquals(one.flags.sort(), ["$Label1", "Work", "\\Answered", "\\Flagged", "\\Seen"]);
    assertEquals(one.internalDate, Date.UTC(2024, 11, 6, 4, 42, 48));
    const two = convertMboxEntry(entries[1]);
    assertEquals(dec.decode(two.data), "Subject: two\r\n\r\nbody two\r\n");
    assertEquals(two.flags, []);
  }
});

Deno.test("mbox: a From line after a non-empty line splits only when it looks like a From_ line", () => {
  const entries = split(
    "From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nline\nFrom here on, nothing\n" +
      "line\nFrom c@d Tue Jan  2 00:00:00 2024\nSubject: y\n\nz\n",
  );
  assertEquals(entries.length, 2);
  assertEquals(dec.decode(entries[0].raw), "Subject: x\n\nline\nFrom here on, nothing\nline\n");
  assertEquals(entries[1].fromLine, "c@d Tue Jan  2 00:00:00 2024");
});

Deno.test("mboxcl2: Content-Length delimits, unquoted From lines stay, header removed", () => {
  // As mutt writes it: no quoting, Content-Length and Lines headers, Status.
  const body = "From here starts trouble\n>From already quoted\nbody line\n\n" +
    "From the start of a paragraph\n";
  const text = "From alice@example.org Sun Dec  6 04:43:59 2026\n" +
    `Subject: tricky\nStatus: RO\nContent-Length: ${body.length}\nLines: 5\n\n${body}\n` +
    "From bob@example.org Sun Dec  6 04:44:00 2026\nSubject: next\n\nx\n";
  for (const chunk of [0, 3, 50]) {
    const entries = split(text, chunk);
    assertEquals(entries.length, 2, `chunk ${chunk}`);
    assert(entries[0].byLength);
    const m = convertMboxEntry(entries[0]);
    assertEquals(
      dec.decode(m.data),
      `Subject: tricky\r\nLines: 5\r\n\r\n${body.replaceAll("\n", "\r\n")}`,
    );
    assertEquals(m.flags, ["\\Seen"]);
  }
});

Deno.test("mbox: a Content-Length that does not delimit the message is ignored", () => {
  const entries = split(
    "From a@b Mon Jan  1 00:00:00 2024\nContent-Length: 3\nSubject: x\n\nlonger body\n\n" +
      "From c@d Tue Jan  2 00:00:00 2024\nContent-Length: 999999\n\ny\n",
  );
  assertEquals(entries.length, 2);
  assert(!entries[0].byLength && !entries[1].byLength);
  // Not the delimiter: the header is kept.
  assertEquals(
    dec.decode(convertMboxEntry(entries[0]).data),
    "Content-Length: 3\r\nSubject: x\r\n\r\nlonger body\r\n",
  );
});

Deno.test("mbox: CRLF files, leading empty lines, a last message's trailing empty line", () => {
  const entries = split(
    "\n\r\nFrom a@b Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n\r\n" +
      "From c@d Tue Jan  2 00:00:00 2024\r\nSubject: y\r\n\r\nz\r\n\r\n",
  );
  assertEquals(entries.map((e) => dec.decode(e.raw)), [
    "Subject: x\r\n\r\nbody\r\n",
    "Subject: y\r\n\r\nz\r\n",
  ]);
  assertThrows(() => split("Subject: not an mbox\n\nbody\n"), MboxFormatError);
});

Deno.test("mbox: UIDs from X-IMAPbase/X-UID, the X-IMAP pseudo message is marked", () => {
  const entries = split(
    "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" +
      "X-IMAP: 1234567890 0000000042 $Label1\nStatus: RO\n\npseudo\n\n" +
      "From a@b Mon Jan  1 00:00:01 2024\nX-UID: 40\nSubject: real\n\nbody\n",
  );
  const pseudo = convertMboxEntry(entries[0]);
  assert(pseudo.pseudo);
  assertEquals(pseudo.base, { uidValidity: 1234567890, nextUid: 42 });
  const real = convertMboxEntry(entries[1]);
  assert(!real.pseudo);
  assertEquals(real.uid, 40);
  assertEquals(dec.decode(real.data), "Subject: real\r\n\r\nbody\r\n");
});

Deno.test("From_ line dates: asctime in UTC, numeric zones honoured, junk gives null", () => {
  assertEquals(
    fromLineDate("MAILER-DAEMON Thu Dec  6 04:42:48 2024"),
    Date.UTC(2024, 11, 6, 4, 42, 48),
  );
  assertEquals(fromLineDate("a@b Sat Jan  3 01:05 1996"), Date.UTC(1996, 0, 3, 1, 5, 0));
  assertEquals(
    fromLineDate("a@b Mon Jan  1 12:00:00 2024 +0200"),
    Date.UTC(2024, 0, 1, 10, 0, 0),
  );
  assertEquals(fromLineDate("a@b yesterday"), null);
  assertEquals(
    dec.decode(unquoteFromLines(enc.encode(">From x\n>>>From y\n> From z\n"))),
    "From x\n>>From y\n> From z\n",
  );
});

Deno.test("the progress line and the summary line of SPEC §11", () => {
  const r = new ImportReport(false);
  r.setTotals({ messages: 4000 });
  for (let i = 0; i < 1000; i++) r.imported1("INBOX", 2048);
  r.present1();
  r.imported1("Sent", 10);
  // About a second after the report began: about 1,000 msg/s (less when this test was
  // slow to get here on a loaded machine: 995 seen), 3 s for the other 3,000.
  const line = r.line(performance.now() + 1000);
  assertMatch(line, /^1,002\/4,000 messages, 2\.0 MiB, (\d{3}|1,\d{3}) msg\/s, 0:0[2-5] left$/);
  assertEquals(
    r.summary(),
    "imported 1001 messages (2048010 bytes) into 2 folders, 1 skipped as already present, 0 errors",
  );
  const byBytes = new ImportReport(false);
  byBytes.setTotals({ sourceBytes: 1000 });
  byBytes.read(250);
  assertMatch(byBytes.line(), /^0 messages, 0 B, 0 msg\/s, \d+:\d\d left$/);
});
