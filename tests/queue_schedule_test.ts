/** The pure parts of scheduling: outcomes, expiry and the retry ladder. */
import { deepStrictEqual, equal } from "node:assert/strict";
import { expire, nextAttemptAt, recordOutcomes, retryInterval } from "../src/queue/schedule.ts";
import type { EnvelopeRecord } from "../src/queue/spool.ts";

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
