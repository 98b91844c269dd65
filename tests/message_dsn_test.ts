/**
 * src/message/dsn.ts, the one RFC 3464 builder, as both callers use it: the queue's
 * bounces (queue/bounce.ts, after remote attempts) and the delivery pipeline's DSNs for
 * copies refused after the end of DATA (delivery/route.ts).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { SmtpReply } from "../src/delivery/types.ts";
import { formatDate } from "../src/message/date.ts";
import { buildDsn, type DsnInput, type DsnRecipient, isDoubleBounce } from "../src/message/dsn.ts";
import { headerFieldBytes } from "../src/message/header.ts";
import { parseDsn } from "./helpers/queue_harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

function input(recipients: DsnRecipient[]): DsnInput {
  return {
    reportingMta: "m.test",
    queueId: "0123456789ABCD",
    sender: "s@o.test",
    arrivalDate: 0,
    recipients,
    original: enc.encode("Subject: x\r\n\r\nbody"),
    now: 0,
    token: "T",
  };
}

Deno.test("dsn (queue): RFC 3464 fields, original headers only, CRLF everywhere", () => {
  const original = enc.encode("From: a@o.test\nSubject: hi\r\n folded\r\n\r\nsecret body\r\n");
  const bytes = buildDsn({
    reportingMta: "mail.test.example",
    queueId: "0123456789ABCD",
    sender: "a@o.test",
    arrivalDate: Date.UTC(2025, 0, 2, 3, 4, 5),
    recipients: [
      {
        address: "x@r.test",
        status: "5.1.1",
        diagnostic: "550 5.1.1 no\r\nsuch user",
        remoteMta: "mx.r.test",
      },
      {
        address: "y@r.test",
        status: "4.4.7",
        diagnostic: "451 4.4.1 connect refused",
        remoteMta: "",
      },
    ],
    original,
    now: Date.UTC(2025, 0, 3),
    token: "T1",
  });
  const dsn = parseDsn(bytes);
  equal(dsn.headers.get("from"), "Mail Delivery System <MAILER-DAEMON@mail.test.example>");
  equal(dsn.headers.get("message-id"), "<0123456789ABCD.T1@mail.test.example>");
  equal(dsn.perMessage.get("arrival-date"), "Thu, 02 Jan 2025 03:04:05 +0000");
  deepStrictEqual(dsn.recipients.map((r) => Object.fromEntries(r)), [
    {
      "final-recipient": "rfc822; x@r.test",
      action: "failed",
      status: "5.1.1",
      "remote-mta": "dns; mx.r.test",
      "diagnostic-code": "smtp; 550 5.1.1 no such user",
    },
    {
      "final-recipient": "rfc822; y@r.test",
      action: "failed",
      status: "4.4.7",
      "diagnostic-code": "smtp; 451 4.4.1 connect refused",
    },
  ]);
  // The header fields, each ending in CRLF, then the CRLF of the delimiter (which the
  // reader here counts as the part's).
  equal(dsn.parts[2].body, "From: a@o.test\r\nSubject: hi\r\n folded\r\n\r\n");
  ok(!dec.decode(bytes).includes("secret body"));
});

Deno.test("dsn (queue): internationalized addresses use the RFC 6533 types", () => {
  const bytes = buildDsn({
    reportingMta: "m.test",
    queueId: "0123456789ABCD",
    sender: "s@o.test",
    arrivalDate: 0,
    recipients: [{
      address: "j\u00f6rg@r.test",
      status: "5.1.1",
      diagnostic: "550 5.1.1 no",
      remoteMta: "",
    }],
    original: enc.encode("Subject: gr\u00fc\u00dfe\r\n\r\nx"),
    now: 0,
    token: "T",
  });
  const dsn = parseDsn(bytes);
  deepStrictEqual(dsn.parts.map((p) => p.type), [
    "text/plain",
    "message/global-delivery-status",
    "message/global-headers",
  ]);
  equal(dsn.recipients[0].get("final-recipient"), "utf-8; j\u00f6rg@r.test");
});

Deno.test("dsn: the attached header and the dates", () => {
  equal(dec.decode(headerFieldBytes(enc.encode("A: 1\r\nB: 2\r\n\r\nbody"))), "A: 1\r\nB: 2\r\n");
  equal(dec.decode(headerFieldBytes(enc.encode("A: 1\n\nbody"))), "A: 1\n");
  equal(dec.decode(headerFieldBytes(enc.encode("A: 1\r\nno body"))), "A: 1\r\nno body");
  match(formatDate(0, 0), /^Thu, 01 Jan 1970 00:00:00 \+0000$/);
  // Bare LF and bare CR in the original header become CRLF; a last line without its
  // line ending gets one, so the closing delimiter starts a line.
  const odd = parseDsn(buildDsn({ ...input([]), original: enc.encode("A: 1\nB: 2\rC: 3") }));
  equal(odd.parts[2].body, "A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  // Control characters in diagnostics and addresses never break a line of the report.
  const hostile = parseDsn(buildDsn(input([{
    address: "x@r.test\r\nBcc: evil@x",
    status: "5.0.0",
    diagnostic: "550 no\x00\x1b[31m\r\n.\r\nRCPT",
    remoteMta: "mx\r\nX: y",
  }])));
  equal(hostile.recipients[0].get("final-recipient"), "rfc822; x@r.test Bcc: evil@x");
  equal(hostile.recipients[0].get("diagnostic-code"), "smtp; 550 no [31m . RCPT");
  equal(hostile.recipients[0].get("remote-mta"), "dns; mx X: y");
  equal(hostile.headers.get("bcc"), undefined);
});

Deno.test("dsn (delivery): a refusal after DATA, with the reply as diagnostic", () => {
  // As delivery/route.ts calls it for a copy refused after the end of DATA.
  const reply = new SmtpReply(552, "5.2.2", "<bob@test.example>: Mailbox full");
  const dsn = text(buildDsn({
    reportingMta: "mx.test.example",
    sender: "alice@x.example",
    queueId: "Q1",
    recipients: [{
      address: "bob@test.example",
      status: reply.enhanced,
      diagnostic: reply.toString(),
    }],
    original: bytes("Subject: hi\r\nFrom: alice@x.example\r\n\r\nthe body\r\n"),
    arrivalDate: Date.now(),
    now: Date.now(),
    token: "BOUND",
  }));
  match(
    dsn,
    /Content-Type: multipart\/report; report-type=delivery-status;\r\n\tboundary="Q1\.BOUND\/mx\.test\.example"/,
  );
  match(
    dsn,
    /\r\n--Q1\.BOUND\/mx\.test\.example\r\n(Content-Description: .*\r\n)?Content-Type: message\/delivery-status\r\n\r\nReporting-MTA: dns; mx\.test\.example\r\n/,
  );
  match(
    dsn,
    /Final-Recipient: rfc822; bob@test\.example\r\nAction: failed\r\nStatus: 5\.2\.2\r\nDiagnostic-Code: smtp; 552 5\.2\.2 /,
  );
  match(
    dsn,
    /Content-Type: text\/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: alice@x\.example\r\n\r\n--Q1\.BOUND\/mx\.test\.example--\r\n$/,
  );
  match(
    dsn,
    /^From: Mail Delivery System <MAILER-DAEMON@mx\.test\.example>\r\nTo: <alice@x\.example>\r\n/,
  );
});

Deno.test("dsn: UTF-8 kept in message/global-delivery-status (RFC 6533); header part ends in CRLF", () => {
  const out = text(buildDsn({
    ...input([{
      address: "bob@test.example",
      status: "5.1.1",
      diagnostic: "550 5.1.1 <tëst@test.example>: no such user",
      remoteMta: "mx.test.example",
    }]),
    original: bytes("Subject: x\r\nFrom: a@b\r\n\r\nbody"),
  }));
  const dsn = parseDsn(bytes(out));
  equal(dsn.parts[1].type, "message/global-delivery-status");
  equal(
    dsn.recipients[0].get("diagnostic-code"),
    "smtp; 550 5.1.1 <tëst@test.example>: no such user",
  );
  ok(!out.includes("t?st"));
  // The header fields, each with its CRLF, then the CRLF of the closing delimiter.
  const boundary = /boundary="([^"]+)"/.exec(out)![1];
  ok(out.endsWith(`From: a@b\r\n\r\n--${boundary}--\r\n`), JSON.stringify(out.slice(-80)));
});

Deno.test("dsn: actions, Original-Recipient, Original-Envelope-Id, RET=FULL", () => {
  const out = text(buildDsn({
    ...input([{
      address: "bob@test.example",
      action: "delayed",
      status: "4.2.0",
      diagnostic: "451 4.2.0 later",
      originalRecipient: { type: "rfc822", address: "Bob@Orig.example" },
      willRetryUntil: 86400_000,
    }]),
    envid: "E-1",
  }));
  const dsn = parseDsn(bytes(out));
  equal(dsn.headers.get("subject"), "Delayed Mail (still being retried)");
  equal(dsn.perMessage.get("original-envelope-id"), "E-1");
  equal(dsn.recipients[0].get("original-recipient"), "rfc822;Bob@Orig.example");
  equal(dsn.recipients[0].get("action"), "delayed");
  equal(dsn.recipients[0].get("will-retry-until"), "Fri, 02 Jan 1970 00:00:00 +0000");
  const full = parseDsn(
    buildDsn({
      ...input([{ address: "a@b", status: "5.0.0", diagnostic: "550 no" }]),
      returnFull: true,
    }),
  );
  equal(full.parts[2].type, "message/rfc822");
  ok(full.parts[2].body.startsWith("Subject: x\r\n\r\nbody"));
});

Deno.test("dsn: a double bounce is addressed to the postmaster and marked; isDoubleBounce reads it", () => {
  const failed: DsnRecipient = { address: "x@r.test", status: "5.1.1", diagnostic: "550 no" };
  const plain = buildDsn(input([failed]));
  const notice = buildDsn({ ...input([failed]), sender: "", doubleBounceTo: "postmaster@m.test" });
  const parsed = parseDsn(notice);
  equal(parsed.headers.get("to"), "<postmaster@m.test>");
  equal(parsed.headers.get("x-double-bounce"), "0123456789ABCD");
  match(parsed.parts[0].body, /postmaster/);
  ok(isDoubleBounce(notice));
  ok(!isDoubleBounce(plain));
  // Only the header counts: the marker quoted in a body does not.
  ok(!isDoubleBounce(bytes("Subject: x\r\n\r\nX-Double-Bounce: 1\r\n")));
});
