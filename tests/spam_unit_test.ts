/**
 * The pure parts of SPEC §9: rspamd's /checkv2 JSON read into a verdict (and every bad
 * shape refused), the header fields made from it (printable, folded, bounded, no field
 * injection), the rewritten Subject, DNSBL query names and listings (RFC 5782), the
 * SpamLearn rule, and the SpamFilter setting.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "./helpers/assert.ts";
import {
  parseCheckReply,
  rewrittenSubject,
  RspamdReplyError,
  verdictFields,
} from "../src/spam/rspamd_reply.ts";
import { dnsblQueryName, readListing } from "../src/spam/dnsbl.ts";
import { parseFilterSetting } from "../src/spam/setting.ts";
import { learnKind } from "../src/imap/spam_learn.ts";
import { BUILTIN_SPECIAL_USE } from "../src/imap/special_use.ts";

// What rspamd 3.4 answered for the add-header GTUBE pattern (tests/helpers/rspamd.ts).
const ADD_HEADER = `{"is_skipped":true,"score":6.0,"required_score":15.0,"action":"add header",
  "symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},
  "messages":{"smtp_message":"Gtube pattern"},"message-id":"x@example.com","time_real":0.0002}`;

Deno.test("rspamd reply: a real /checkv2 answer", () => {
  const v = parseCheckReply(ADD_HEADER);
  assertEquals(v.action, "add header");
  assertEquals([v.score, v.required], [6, 15]);
  assertEquals(v.symbols, [{ name: "GTUBE", score: 0, options: [] }]);
  assertEquals(v.smtpMessage, "Gtube pattern");
  assertEquals(v.subject, null);
  assertEquals(
    verdictFields(v),
    "X-Spamd-Result: default: True [6.00 / 15.00]; GTUBE(0.00)\r\n" +
      "X-Rspamd-Score: 6.00\r\nX-Rspamd-Action: add header\r\nX-Spam: Yes\r\n",
  );
});

Deno.test("rspamd reply: bad shapes are errors, never verdicts", () => {
  for (
    const body of [
      "",
      "<html>502 Bad Gateway</html>",
      "[]",
      `{"error":"invalid command"}`,
      `{"action":"delete everything","score":1}`,
      `{"action":"reject"}`,
      `{"action":"reject","score":"high"}`,
    ]
  ) {
    assertThrows(() => parseCheckReply(body), RspamdReplyError, undefined, body);
  }
});

Deno.test("rspamd reply: symbols sorted and bounded; options cannot break the header", () => {
  const symbols: Record<string, unknown> = {
    LOW: { name: "LOW", score: -1, options: [] },
    HIGH: {
      name: "HIGH",
      score: 3.5,
      options: ["evil\r\nX-Injected: yes", "caf\u00e9", "a".repeat(500), "4", "5", "6"],
    },
  };
  for (let i = 0; i < 100; i++) symbols[`S${i}`] = { score: 0.01, options: [] };
  const v = parseCheckReply(JSON.stringify({
    action: "no action",
    score: 2.5,
    required_score: 15,
    symbols,
    milter: {
      add_headers: {
        "X-Custom": [{ value: "one", order: 0 }, "two"],
        "Bad Name": "x",
        "X-Spam": { value: "Maybe\r\nBcc: victim@example.com" },
      },
      remove_headers: { "X-Old": 0, "Bad Name": 1 },
    },
  }));
  assertEquals(v.symbols[0].name, "HIGH");
  assertEquals(v.symbols.at(-1)!.name, "LOW");
  assertEquals(v.removeHeaders, ["x-old"]);
  const fields = verdictFields(v);
  // Every line is a field or a fold; nothing was injected; lines fit (RFC 5322 §2.1.1).
  const lines = fields.split("\r\n").slice(0, -1);
  for (const line of lines) {
    assertMatch(line, /^(X-[A-Za-z-]+: |[ \t])/);
    assert(line.length <= 998);
  }
  assert(!/^X-Injected|^Bcc/m.test(fields));
  const unfolded = fields.replace(/\r\n(?=[ \t])/g, "");
  assertMatch(unfolded, /HIGH\(3\.50\)\[evil X-Injected: yes,caf\?,a{64}\.\.\.,4,5\]; S0/);
  assertEquals(unfolded.match(/\(0\.01\)/g)?.length, 63, "64 symbols at most: LOW is left out");
  assert(!unfolded.includes("LOW"));
  assertMatch(fields, /\r\nX-Custom: one\r\nX-Custom: two\r\n/);
  assertMatch(fields, /\r\nX-Spam: Maybe Bcc: victim@example\.com\r\n/);
  assertEquals(fields.match(/^X-Spam:/gm)?.length, 1, "rspamd's X-Spam replaces ours");
});

Deno.test("rspamd reply: rewrite subject, ASCII and not", () => {
  const base = { action: "rewrite subject", score: 7, required_score: 15 };
  assertEquals(
    rewrittenSubject(parseCheckReply(JSON.stringify({ ...base, subject: "*** SPAM *** Hi" }))),
    "Subject: *** SPAM *** Hi\r\n",
  );
  const utf8 = rewrittenSubject(
    parseCheckReply(JSON.stringify({ ...base, subject: "*** SPAM *** Grüße\r\nBcc: x" })),
  )!;
  assertMatch(utf8, /^Subject: =\?UTF-8\?B\?/i);
  assert(!utf8.slice(0, -2).includes("\r\nB"), "no injected field");
  assertEquals(rewrittenSubject(parseCheckReply(JSON.stringify({ ...base, subject: 1 }))), null);
  assertEquals(
    rewrittenSubject(parseCheckReply(JSON.stringify({ ...base, action: "add header" }))),
    null,
  );
});

Deno.test("dnsbl: query names (RFC 5782 §2.1, §2.4) and what answers mean (§2.3)", () => {
  assertEquals(dnsblQueryName("192.0.2.99", "zen.spamhaus.org"), "99.2.0.192.zen.spamhaus.org");
  assertEquals(dnsblQueryName("192.0.2.99", "bl.test."), "99.2.0.192.bl.test");
  assertEquals(
    dnsblQueryName("2001:db8:1:2:3:4:567:89ab", "bl.test"),
    "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test",
  );
  assertEquals(dnsblQueryName("not an ip", "bl.test"), null);
  const a = (...addresses: string[]) => ({
    records: addresses.map((address) => ({ type: "A" as const, address })),
    negative: "" as const,
  });
  assertEquals(readListing(a("127.0.0.2")), { kind: "listed", code: "127.0.0.2" });
  assertEquals(readListing(a("127.0.0.10", "127.0.0.4")).kind, "listed");
  assertEquals(readListing({ records: [], negative: "NXDOMAIN" }).kind, "clear");
  assertEquals(readListing(a("127.255.255.254")).kind, "problem");
  assertEquals(readListing(a("198.51.100.7")).kind, "problem");
});

Deno.test("spamlearn: into Junk is spam, out of Junk is ham unless to Trash", () => {
  const uses = new Map(Object.entries(BUILTIN_SPECIAL_USE));
  uses.set("Spam/Later", "\\Junk");
  assertEquals(learnKind(uses, "INBOX", "Junk"), "spam");
  assertEquals(learnKind(uses, "Archive", "Spam/Later"), "spam");
  assertEquals(learnKind(uses, "Junk", "INBOX"), "ham");
  assertEquals(learnKind(uses, "Junk", "Projects"), "ham");
  assertEquals(learnKind(uses, "Junk", "Trash"), null);
  assertEquals(learnKind(uses, "Junk", "Spam/Later"), null);
  assertEquals(learnKind(uses, "INBOX", "Archive"), null);
});

Deno.test("SpamFilter setting: rspamd:<http URL> or nothing", () => {
  assertEquals(parseFilterSetting("rspamd:http://127.0.0.1:11333")?.port, "11333");
  assertEquals(parseFilterSetting("rspamd:https://rspamd.example/")?.hostname, "rspamd.example");
  for (const bad of ["", "http://127.0.0.1:11333", "rspamd:ftp://x", "spamd:http://x"]) {
    assertEquals(parseFilterSetting(bad), null, bad);
  }
  assertEquals(parseFilterSetting("rspamd:http://u:p@127.0.0.1:11333"), null, "no credentials");
});
