/**
 * RFC 3461 DSN parameters: parsing at MAIL/RCPT, EHLO's DSN keyword, and what the queue
 * and the pipeline make of them: NOTIFY=NEVER (no bounce), NOTIFY=DELAY (one delay
 * notice), RET=HDRS/FULL, ENVID and ORCPT in the report, parameters passed on to a
 * DSN-capable next hop, "relayed" for one without DSN, "delivered" and "expanded" for
 * local mail.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "./helpers/assert.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { parseDsn, startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { mailParams, parseParams, rcptParams } from "../src/smtp/command.ts";
import { SmtpError } from "../src/smtp/replies.ts";
import { fixture, message, send, text, users } from "./delivery_fixture.ts";
import type { RcptDsn } from "../src/delivery/types.ts";

const dec = new TextDecoder();

Deno.test("DSN parameters: RET, ENVID, NOTIFY, ORCPT parsed (xtext), bad ones refused", () => {
  assertEquals(mailParams(parseParams(" RET=hdrs ENVID=QQ+2Babc")), {
    ret: "HDRS",
    envid: "QQ+abc",
  });
  assertEquals(rcptParams(parseParams(" NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@y.example")), {
    notify: ["SUCCESS", "DELAY"],
    orcpt: { type: "rfc822", address: "b+x@y.example" },
  });
  assertEquals(rcptParams(parseParams(" NOTIFY=never")), { notify: ["NEVER"] });
  for (
    const bad of [
      " NOTIFY=NEVER,SUCCESS",
      " NOTIFY=SOMETIMES",
      " NOTIFY=DELAY,DELAY",
      " ORCPT=rfc822",
      " ORCPT=rfc822;a+ZZ",
    ]
  ) {
    assertThrows(() => rcptParams(parseParams(bad)), SmtpError, "", bad);
  }
  assertThrows(() => mailParams(parseParams(" RET=ALL")), SmtpError);
  assertThrows(() => mailParams(parseParams(` ENVID=${"x".repeat(101)}`)), SmtpError);
});

async function queueSetup(sinkOpts: Parameters<typeof startSink>[0] = {}, config = {}) {
  const dns = await startFakeDns();
  const sink = await startSink(sinkOpts);
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    ...config,
  });
  return {
    dns,
    sink,
    h,
    async close() {
      await h.close();
      await sink.close();
      dns.close();
    },
  };
}

const dsnOf = (rcpts: Record<string, RcptDsn>, ret?: "FULL" | "HDRS", envid?: string) => ({
  dsn: { ret, envid, rcpts },
});

Deno.test("queue: NOTIFY=NEVER gives no bounce; RET=HDRS headers only; ENVID and ORCPT reported", async () => {
  const t = await queueSetup({
    rcpt: (to) => (to.startsWith("no") ? "550 5.1.1 unknown" : undefined),
  });
  try {
    await t.h.send(
      "alice@origin.test",
      ["nobody@remote.test"],
      "Secret body 1.",
      dsnOf({
        "nobody@remote.test": { notify: ["NEVER"] },
      }),
    );
    await t.h.send(
      "alice@origin.test",
      ["nope@remote.test"],
      "Secret body 2.",
      dsnOf(
        {
          "nope@remote.test": {
            notify: ["FAILURE"],
            orcpt: { type: "rfc822", address: "Nope@Orig.example" },
          },
        },
        "HDRS",
        "env-42",
      ),
    );
    const [bounce] = await t.h.waitForBounces(1);
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(t.h.bounces.length, 1, "none for NOTIFY=NEVER");
    const dsn = parseDsn(bounce.data);
    assertEquals(dsn.perMessage.get("original-envelope-id"), "env-42");
    assertEquals(dsn.recipients[0].get("original-recipient"), "rfc822;Nope@Orig.example");
    assertEquals(dsn.recipients[0].get("final-recipient"), "rfc822; nope@remote.test");
    assertEquals(dsn.parts[2].type, "text/rfc822-headers");
    assert(!dec.decode(bounce.data).includes("Secret body 2."), "RET=HDRS: no body");

    await t.h.send("alice@origin.test", ["none@remote.test"], "Secret body 3.", dsnOf({}, "FULL"));
    const [, full] = await t.h.waitForBounces(2);
    const parsed = parseDsn(full.data);
    assertEquals(parsed.parts[2].type, "message/rfc822");
    assert(parsed.parts[2].body.includes("Secret body 3."), "RET=FULL: the whole message");
  } finally {
    await t.close();
  }
});

Deno.test("queue: NOTIFY=DELAY gives one delay notice after QueueDelayWarning", async () => {
  const t = await queueSetup(
    { rcpt: () => "451 4.2.0 try later" },
    { QueueDelayWarning: 1, QueueRetry: [1] },
  );
  try {
    await t.h.send(
      "alice@origin.test",
      ["slow@remote.test", "quiet@remote.test"],
      "Late.",
      dsnOf({
        "slow@remote.test": { notify: ["DELAY", "FAILURE"] },
      }),
    );
    const [notice] = await t.h.waitForBounces(1, 20_000);
    const dsn = parseDsn(notice.data);
    assertMatch(dsn.headers.get("subject")!, /Delayed Mail/);
    assertEquals(dsn.recipients.length, 1, "only the recipient that asked for DELAY");
    assertEquals(dsn.recipients[0].get("action"), "delayed");
    assertEquals(dsn.recipients[0].get("final-recipient"), "rfc822; slow@remote.test");
    assert(dsn.recipients[0].get("will-retry-until"));
    await new Promise((r) => setTimeout(r, 2500));
    assertEquals(t.h.bounces.length, 1, "one notice, not one per attempt");
  } finally {
    await t.close();
  }
});

Deno.test("queue: parameters passed to a DSN server; 'relayed' report from one without DSN", async () => {
  const withDsn = await queueSetup({ dsn: true });
  try {
    await withDsn.h.send(
      "alice@origin.test",
      ["bob@remote.test"],
      "Hi.",
      dsnOf(
        {
          "bob@remote.test": {
            notify: ["SUCCESS", "FAILURE"],
            orcpt: { type: "rfc822", address: "b+b=x@o.example" },
          },
        },
        "HDRS",
        "id 1",
      ),
    );
    const [m] = await withDsn.sink.waitFor(1);
    assertMatch(m.params, /RET=HDRS ENVID=id\+201/);
    assertEquals(
      m.rcptParams["bob@remote.test"],
      "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bb+3Dx@o.example",
    );
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(withDsn.h.bounces.length, 0, "the next hop reports, not us");
  } finally {
    await withDsn.close();
  }
  const without = await queueSetup({});
  try {
    await without.h.send(
      "alice@origin.test",
      ["bob@remote.test"],
      "Hi.",
      dsnOf({
        "bob@remote.test": { notify: ["SUCCESS"] },
      }),
    );
    const [m] = await without.sink.waitFor(1);
    assert(!/NOTIFY|RET=/.test(m.params + JSON.stringify(m.rcptParams)), "not sent without DSN");
    const [report] = await without.h.waitForBounces(1);
    const dsn = parseDsn(report.data);
    assertEquals(dsn.recipients[0].get("action"), "relayed");
    assertEquals(dsn.recipients[0].get("status"), "2.0.0");
  } finally {
    await without.close();
  }
});

Deno.test("pipeline: NOTIFY=SUCCESS gives 'delivered' locally and 'expanded' for an alias", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.addAlias("team", "test.example", [
      "bob@test.example",
      "carol@test.example",
    ]);
    const r = await send(ctx, {
      from: "alice@remote.example",
      to: [["bob@test.example", { notify: ["SUCCESS"] }], ["team@test.example", {
        notify: ["SUCCESS"],
      }]],
      data: message({ From: "alice@remote.example", Subject: "hi" }),
      params: { envid: "E2" },
    });
    assertEquals(r.data?.code, 250);
    const reports = queue.messages.filter((m) => m.from === "");
    const actions = reports.map((m) =>
      parseDsn(m.data).recipients.map((x) => x.get("action")).join()
    );
    assertEquals(actions.sort(), ["delivered", "expanded"]);
    assert(reports.every((m) => text(m.data).includes("Original-Envelope-Id: E2")));
  } finally {
    await fx.close();
  }
});
