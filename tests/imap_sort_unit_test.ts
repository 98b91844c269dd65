/**
 * SORT and THREAD without a server: the base subject rules of RFC 5256 §2.1, the sort
 * keys of §3 and RFC 5957, the REFERENCES and ORDEREDSUBJECT algorithms (RFC 5256 §3)
 * with the response forms of its §4 and examples, and the ESORT sequence-set of RFC 5267.
 */
import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  addressForms,
  baseSubject,
  casemap,
  compareText,
  computeKeys,
  decodeKeys,
  encodeKeys,
  type MessageKeys,
  threadIdOf,
} from "../src/imap/message_keys.ts";
import { parseSortCriteria, type SortItem, sortItems } from "../src/imap/sort.ts";
import { formatSet } from "../src/imap/args.ts";
import { formatThreads, type ThreadMessage, threadsOf } from "../src/imap/thread.ts";
import type { Token } from "../src/imap/parser.ts";

const enc = new TextEncoder();

Deno.test("base subject: RFC 5256 §2.1 steps", () => {
  const b = (s: string) => baseSubject(s);
  // (2) trailing "(fwd)" and white space; a reply/forward marker.
  deepStrictEqual(b("Hello (fwd) (FWD)  "), { base: "Hello", reply: true });
  // (3) subj-refwd with blobs before and inside: "re", "fw", "fwd", any case.
  deepStrictEqual(b("Re: hello"), { base: "hello", reply: true });
  deepStrictEqual(b("RE: Fwd: FW: hello"), { base: "hello", reply: true });
  deepStrictEqual(b("[list] Re[2]: hello"), { base: "hello", reply: true });
  deepStrictEqual(b("re :hello"), { base: "hello", reply: true });
  // (4) a leading blob goes when text is left after it; not when it is all there is.
  deepStrictEqual(b("[PATCH] fix it"), { base: "fix it", reply: false });
  deepStrictEqual(b("[PATCH]"), { base: "[PATCH]", reply: false });
  deepStrictEqual(b("[a] [b] Re: x"), { base: "x", reply: true });
  // (6) "[fwd: ...]" around the whole, then again from (2).
  deepStrictEqual(b("[Fwd: Re: hello (fwd)]"), { base: "hello", reply: true });
  // (1) encoded words decoded, white space runs made one.
  deepStrictEqual(b("=?utf-8?q?Re:_caf=C3=A9?=\t  au   lait"), {
    base: "café au lait",
    reply: true,
  });
  // Not a marker: "Re" without colon, "Reply:" as a word.
  deepStrictEqual(b("Rebus"), { base: "Rebus", reply: false });
  deepStrictEqual(b("Reply: x"), { base: "Reply: x", reply: false });
  deepStrictEqual(b(""), { base: "", reply: false });
  // Compared in i;unicode-casemap form, code point order.
  equal(casemap("café"), casemap("CAFÉ"));
  ok(compareText("A", "B") < 0);
  ok(compareText("\uffff", "\u{1f600}") < 0, "code points above U+FFFF sort last");
});

function msg(header: string): MessageKeys {
  const bytes = enc.encode(header.replaceAll("\n", "\r\n") + "\r\n\r\nbody\r\n");
  const end = bytes.indexOf(13, bytes.length - 10);
  return computeKeys(bytes, 0, end - 4);
}

Deno.test("message keys: addresses, display names, dates, references, ids", () => {
  const k = msg(
    [
      "From: =?iso-8859-1?q?J=F6rg?= <joerg@Example.org>",
      'To: "" <zoe@example.org>, bob@example.org',
      "Cc: undisclosed:;",
      "Subject: Re: Report",
      "Date: Mon, 7 Feb 1994 21:52:25 -0800",
      "Message-ID: <m1@x>",
      "References: <r1@x> <r2@x>",
      "In-Reply-To: <r2@x>",
    ].join("\n"),
  );
  equal(k.from, "JOERG");
  equal(k.displayFrom, casemap("Jörg"));
  equal(k.to, "ZOE");
  equal(k.displayTo, "ZOE@EXAMPLE.ORG"); // RFC 5957: no display name, the addr-spec
  equal(k.cc, ""); // a group without mailboxes
  equal(k.subject, "REPORT");
  equal(k.reply, true);
  equal(k.sent, Date.UTC(1994, 1, 8, 5, 52, 25));
  equal(k.messageId, "<m1@x>");
  deepStrictEqual(k.references, ["<r1@x>", "<r2@x>"]);
  ok(/^M[A-Za-z0-9_-]{24}$/.test(k.emailId ?? ""));
  ok(/^T[A-Za-z0-9_-]{24}$/.test(threadIdOf(k) ?? ""));
  // THREADID is the thread's first message-id: the same for the root and every reply.
  const root = msg("Message-ID: <r1@x>\nSubject: Report");
  equal(threadIdOf(root), threadIdOf(k));
  // In-Reply-To counts when there is no References; a missing Date is null.
  const r = msg("In-Reply-To: <p@x> (comment) <q@x>\nSubject: x");
  deepStrictEqual(r.references, ["<p@x>"]);
  equal(r.sent, null);
  // Stored form round trip, and another version is not trusted.
  deepStrictEqual(decodeKeys(encodeKeys(k)), k);
  equal(decodeKeys(encodeKeys(k).replace(/^\[2,/, "[1,")), null);
  equal(decodeKeys("not json"), null);
});

Deno.test("address search forms: display name, local part, domain, encoded forms", () => {
  const forms = addressForms([
    "user-from@domain.org (Real From)",
    '=?utf-8?b?UsOpYWw=?= <"quoted local"@domain.org>',
    "Group: a@b.c, d@e.f;",
    "folded\r\n @domain.org",
  ]);
  ok(forms.includes("Real From <user-from@domain.org>"));
  ok(forms.includes("Réal <quoted local@domain.org>"));
  ok(forms.includes("<a@b.c>") && forms.includes("<d@e.f>"));
  ok(forms.some((f) => f.includes("folded@domain.org")), JSON.stringify(forms));
});

function item(seq: number, keys: Partial<MessageKeys>, arrival = 0, size = 0): SortItem {
  const base: MessageKeys = {
    subject: "",
    reply: false,
    subjects: [],
    sent: null,
    from: "",
    to: "",
    cc: "",
    displayFrom: "",
    displayTo: "",
    messageId: null,
    references: [],
    emailId: "M",
  };
  return { seq, uid: seq * 10, keys: { ...base, ...keys }, arrival, size };
}

const atoms = (s: string): Token[] => s.split(" ").map((value) => ({ kind: "atom", value }));

Deno.test("sort: criteria, REVERSE, DATE fallback, ties by sequence number", () => {
  deepStrictEqual(parseSortCriteria(atoms("REVERSE DATE SUBJECT")), [
    { key: "DATE", reverse: true },
    { key: "SUBJECT", reverse: false },
  ]);
  throws(() => parseSortCriteria(atoms("DATE REVERSE")));
  throws(() => parseSortCriteria(atoms("REVERSE REVERSE DATE")));
  throws(() => parseSortCriteria([]));
  throws(() => parseSortCriteria(atoms("COLOR")));
  const items = [
    item(1, { subject: "B", sent: 300, from: "ZED", displayFrom: "ANNA" }, 50, 30),
    item(2, { subject: "A", sent: null, from: "AMY", displayFrom: "ZOE" }, 200, 10),
    item(3, { subject: "B", sent: 100, from: "", displayFrom: "" }, 10, 20),
    item(4, { subject: "A", sent: 300, from: "AMY", displayFrom: "ZOE" }, 5, 10),
  ];
  const seqs = (c: string) => sortItems(items, parseSortCriteria(atoms(c))).map((i) => i.seq);
  deepStrictEqual(seqs("ARRIVAL"), [4, 3, 1, 2]);
  // DATE: message 2 has no Date, so its INTERNALDATE (200) counts.
  deepStrictEqual(seqs("DATE"), [3, 2, 1, 4]);
  deepStrictEqual(seqs("REVERSE DATE"), [1, 4, 2, 3]); // the tie 1/4 stays ascending
  deepStrictEqual(seqs("SUBJECT DATE"), [2, 4, 3, 1]);
  deepStrictEqual(seqs("FROM"), [3, 2, 4, 1]); // "" (no From) first
  deepStrictEqual(seqs("DISPLAYFROM"), [3, 1, 2, 4]);
  deepStrictEqual(seqs("SIZE REVERSE ARRIVAL"), [2, 4, 3, 1]);
});

Deno.test("ESORT: ALL keeps the sort order (RFC 5267 §3.2)", () => {
  equal(formatSet([23765, 23764, 23763, 23761]), "23765,23764,23763,23761");
  equal(formatSet([1, 2, 3, 7, 5, 6]), "1:3,7,5:6");
  equal(formatSet([]), "");
});

let nextSeq = 1;
function t(id: string, opts: { refs?: string[]; subject?: string; date?: number } = {}) {
  const seq = nextSeq++;
  const s = baseSubject(opts.subject ?? id);
  return {
    seq,
    uid: seq,
    date: opts.date ?? seq,
    keys: {
      ...item(seq, {}).keys,
      messageId: `<${id}>`,
      references: (opts.refs ?? []).map((r) => `<${r}>`),
      subject: casemap(s.base),
      reply: s.reply,
    },
  } satisfies ThreadMessage;
}

Deno.test("THREAD=REFERENCES: parents, dummies, subject merging, ordering", () => {
  nextSeq = 1;
  const msgs = [
    t("a", { subject: "one" }), // 1
    t("b", { refs: ["a"], subject: "Re: one" }), // 2
    t("c", { refs: ["a", "b"], subject: "Re: one" }), // 3
    t("d", { refs: ["a"], subject: "Re: one" }), // 4
    t("e", { refs: ["missing"], subject: "two" }), // 5: parent unknown, a dummy is pruned
    t("f", { refs: ["gone"], subject: "Re: three" }), // 6 and 7 share a missing parent:
    t("g", { refs: ["gone"], subject: "Re: three" }), // a dummy holds both at the root
    t("h", { subject: "Re: two" }), // 8: merged under 5 by subject (a reply)
    t("i", { subject: "four", date: 0 }), // 9: the earliest thread
  ];
  const out = formatThreads(threadsOf("REFERENCES", msgs), (m) => m.seq);
  equal(out, "(9)(1 (2 3)(4))(5 8)((6)(7))");
  // A References loop is not followed (step 1B): x became y's child first, so y's
  // reference to x is dropped; every message is shown once.
  nextSeq = 1;
  const loop = [t("x", { refs: ["y"] }), t("y", { refs: ["x"] })];
  equal(formatThreads(threadsOf("REFERENCES", loop), (m) => m.seq), "(2 1)");
  // Non-replies with the same subject: a dummy holds them (RFC 5256 §3 step 5.C).
  nextSeq = 1;
  const same = [t("p", { subject: "same" }), t("q", { subject: "same" })];
  equal(formatThreads(threadsOf("REFERENCES", same), (m) => m.seq), "((1)(2))");
  // A deep chain is written flat without recursion.
  nextSeq = 1;
  const chain = [t("m0")];
  for (let i = 1; i < 20_000; i++) chain.push(t(`m${i}`, { refs: [`m${i - 1}`] }));
  const text = formatThreads(threadsOf("REFERENCES", chain), (m) => m.seq);
  ok(text.startsWith("(1 2 3 ") && text.endsWith(" 20000)"));
});

Deno.test("THREAD=ORDEREDSUBJECT: RFC 5256 §3 response shape", () => {
  nextSeq = 1;
  const msgs = [
    t("a", { subject: "x", date: 5 }), // 1
    t("b", { subject: "Re: x", date: 6 }), // 2
    t("c", { subject: "y", date: 1 }), // 3
    t("d", { subject: "Re: x", date: 7 }), // 4
    t("e", { subject: "z", date: 3 }), // 5
    t("f", { subject: "Re: z", date: 2 }), // 6: earlier than 5, so it leads its thread
  ];
  // Threads by their first message's date; one child is "a b", several "(a (b)(c))".
  equal(formatThreads(threadsOf("ORDEREDSUBJECT", msgs), (m) => m.seq), "(3)(6 5)(1 (2)(4))");
});
