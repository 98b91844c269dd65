/** The pure parts of bouncing and scheduling: DSN bytes, expiry and the retry ladder. */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { buildDsn, headerBlock, rfc5322Date } from "../src/queue/dsn.ts";
import { expire, nextAttemptAt, recordOutcomes, retryInterval } from "../src/queue/schedule.ts";
import type { EnvelopeRecord } from "../src/queue/spool.ts";
import { parseDsn } from "./helpers/queue_harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("dsn: RFC 3464 fields, original headers only, CRLF everywhere", () => {
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
  equal(dsn.perMessage.get("arrival-date"), "Thu, 2 Jan 2025 03:04:05 +0000");
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
  equal(dsn.parts[2].body, "From: a@o.test\r\nSubject: hi\r\n folded\r\n");
  ok(!dec.decode(bytes).includes("secret body"));
});

Deno.test("dsn: internationalized addresses use the RFC 6533 types", () => {
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

Deno.test("dsn: header block and dates", () => {
  equal(dec.decode(headerBlock(enc.encode("A: 1\r\nB: 2\r\n\r\nbody"))), "A: 1\r\nB: 2\r\n");
  equal(dec.decode(headerBlock(enc.encode("A: 1\n\nbody"))), "A: 1\n");
  equal(dec.decode(headerBlock(enc.encode("A: 1\r\nno body"))), "A: 1\r\nno body");
  match(rfc5322Date(0), /^Thu, 1 Jan 1970 00:00:00 \+0000$/);
});

function env(rcpts: string[]): EnvelopeRecord {
  return {
    v: 1,
    id: "0123456789ABCD",
    from: "s@o.test",
    createdAt: 0,
    size: 1,
    smtpUtf8: false,
    eightBit: false,
    attempts: 0,
    nextAttempt: 0,
    lastError: "",
    rcpts: rcpts.map((addr) => ({ addr, state: "pending", status: "", diag: "", mta: "" })),
  };
}

Deno.test("schedule: outcomes, the retry ladder, expiry with 4.4.7", () => {
  const e = env(["a@r.test", "b@r.test", "c@r.test"]);
  const rec = recordOutcomes(e, [
    { rcpt: "a@r.test", kind: "sent", status: "2.0.0", diagnostic: "250 ok", remoteMta: "mx" },
    {
      rcpt: "b@r.test",
      kind: "perm",
      status: "5.1.1",
      diagnostic: "550 5.1.1 no",
      remoteMta: "mx",
    },
    {
      rcpt: "c@r.test",
      kind: "temp",
      status: "4.2.0",
      diagnostic: "450 4.2.0 busy",
      remoteMta: "mx",
    },
    {
      rcpt: "a@r.test",
      kind: "perm",
      status: "5.0.0",
      diagnostic: "ignored: not pending",
      remoteMta: "",
    },
  ]);
  deepStrictEqual([rec.sent, rec.settled, rec.lines.length], [1, 2, 3]);
  deepStrictEqual(e.rcpts.map((r) => r.state), ["sent", "failed", "pending"]);
  equal(e.lastError, "450 4.2.0 busy");

  const ladder = [60, 300, 900];
  deepStrictEqual([1, 2, 3, 4, 9].map((n) => retryInterval(n, ladder)), [60, 300, 900, 900, 900]);
  e.attempts = 2;
  equal(nextAttemptAt(e, 10_000, ladder, 3600), 310_000);
  // Never later than the expiry, never sooner than a second.
  equal(nextAttemptAt(e, 10_000, ladder, 100), 100_000);
  equal(nextAttemptAt(e, 200_000, ladder, 100), 201_000);

  deepStrictEqual(expire(e, 99_999, 100), []);
  const gone = expire(e, 100_000, 100);
  deepStrictEqual(gone.map((r) => [r.addr, r.state, r.status, r.diag]), [
    ["c@r.test", "failed", "4.4.7", "450 4.2.0 busy"],
  ]);
  const fresh = env(["d@r.test"]);
  equal(expire(fresh, 5000, 1)[0].diag, "421 4.4.7 message expired after 1 s in the queue");
});
