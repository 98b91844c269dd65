/**
 * Bounces: 5xx replies, QueueExpire, null MX, IPOUT and DOMAINOUT deny entries; each DSN
 * is parsed (RFC 3464 / RFC 6522) and its fields checked.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { newQueueId } from "../src/queue/id.ts";
import type { OutboundMessage } from "../src/queue/types.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { type ParsedDsn, parseDsn, startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";

function checkEnvelope(bounce: OutboundMessage, sender: string): ParsedDsn {
  equal(bounce.from, "", "a DSN is sent from the null sender");
  deepStrictEqual(bounce.to, [sender]);
  const dsn = parseDsn(bounce.data);
  match(dsn.contentType, /^multipart\/report; report-type=delivery-status;/);
  deepStrictEqual(dsn.parts.map((p) => p.type), [
    "text/plain",
    "message/delivery-status",
    "text/rfc822-headers",
  ]);
  equal(dsn.headers.get("to"), `<${sender}>`);
  equal(dsn.headers.get("auto-submitted"), "auto-replied");
  equal(dsn.perMessage.get("reporting-mta"), "dns; mail.test.example");
  ok(!Number.isNaN(Date.parse(dsn.perMessage.get("arrival-date")!)));
  return dsn;
}

Deno.test("bounce: 5xx for one recipient gives a DSN; the other is delivered", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({
    rcpt: (
      to,
    ) => (to.startsWith("nobody") ? "550 5.1.1 <nobody@remote.test>: no such user" : undefined),
  });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
    dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
    const id = await h.send("alice@origin.test", ["nobody@remote.test", "bob@remote.test"]);
    const [bounce] = await h.waitForBounces(1);
    const dsn = checkEnvelope(bounce, "alice@origin.test");
    equal(dsn.perMessage.get("x-queue-id"), id);
    equal(dsn.recipients.length, 1);
    const r = dsn.recipients[0];
    equal(r.get("final-recipient"), "rfc822; nobody@remote.test");
    equal(r.get("action"), "failed");
    equal(r.get("status"), "5.1.1");
    equal(r.get("remote-mta"), "dns; mx.remote.test");
    equal(r.get("diagnostic-code"), "smtp; 550 5.1.1 <nobody@remote.test>: no such user");
    const original = dsn.parts[2].body;
    match(original, new RegExp(`Message-ID: <${id}@origin.test>`));
    ok(!original.includes("Hello."), "only the headers are returned");
    match(dsn.parts[0].body, /nobody@remote\.test/);
    deepStrictEqual((await sink.waitFor(1))[0].to, ["bob@remote.test"]);
    equal(h.ctx.stats.bounced, 1);
    equal(h.queue.size(), 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: a message still pending at QueueExpire fails with 4.4.7", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ rcpt: () => "451 4.7.1 greylisted, come back later" });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    QueueRetry: [1],
    QueueExpire: 2,
  });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    const started = Date.now();
    await h.send("alice@origin.test", ["late@remote.test"]);
    const [bounce] = await h.waitForBounces(1, 10_000);
    ok(Date.now() - started >= 1900, "not before QueueExpire");
    const r = checkEnvelope(bounce, "alice@origin.test").recipients[0];
    equal(r.get("final-recipient"), "rfc822; late@remote.test");
    equal(r.get("action"), "failed");
    equal(r.get("status"), "4.4.7");
    equal(r.get("diagnostic-code"), "smtp; 451 4.7.1 greylisted, come back later");
    equal(h.queue.size(), 0);
    equal(sink.messages.length, 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: null MX (RFC 7505) bounces at once without a connection", async () => {
  const dns = await startFakeDns();
  const sink = await startSink();
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("nomail.test", { type: "MX", preference: 0, exchange: "" });
    dns.add("nomail.test", { type: "A", address: "127.0.0.1" });
    await h.send("alice@origin.test", ["x@nomail.test"]);
    const [bounce] = await h.waitForBounces(1);
    const r = checkEnvelope(bounce, "alice@origin.test").recipients[0];
    equal(r.get("status"), "5.1.10");
    match(r.get("diagnostic-code")!, /^smtp; 556 5\.1\.10 /);
    equal(r.has("remote-mta"), false);
    equal(sink.connections, 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: IPOUT skips MX hosts; with no other the mail waits, then expires", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ hosts: ["127.0.0.1", "127.0.0.2"] });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    QueueRetry: [1],
    QueueExpire: 3,
  });
  try {
    await h.ctx.directory.addDeny("IPOUT", "127.0.0.2/32");
    dns.add("two.test", { type: "MX", preference: 1, exchange: "denied.two.test" });
    dns.add("two.test", { type: "MX", preference: 2, exchange: "ok.two.test" });
    dns.add("denied.two.test", { type: "A", address: "127.0.0.2" });
    dns.add("ok.two.test", { type: "A", address: "127.0.0.1" });
    dns.add("one.test", { type: "MX", preference: 1, exchange: "denied.one.test" });
    dns.add("denied.one.test", { type: "A", address: "127.0.0.2" });
    await h.send("alice@origin.test", ["a@two.test"]);
    const id = await h.send("alice@origin.test", ["b@one.test"]);
    const [msg] = await sink.waitFor(1);
    equal(msg.localAddress, "127.0.0.1");
    const waiting = await (async () => {
      for (let i = 0; i < 100; i++) {
        const r = h.queue.list({ id })[0];
        if (r?.attempts >= 1) return r;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error("no attempt");
    })();
    match(waiting.lastError, /IPOUT/);
    const [bounce] = await h.waitForBounces(1, 10_000);
    const r = checkEnvelope(bounce, "alice@origin.test").recipients[0];
    equal(r.get("final-recipient"), "rfc822; b@one.test");
    equal(r.get("status"), "4.4.7");
    equal(sink.messages.length, 1, "nothing ever went to the denied address");
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: DOMAINOUT/MAILBOXOUT refuse at delivery; a bounce is never bounced", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ rcpt: () => "550 5.1.1 no such user" });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    await h.ctx.directory.addDeny("DOMAINOUT", "blocked.test");
    await h.ctx.directory.addDeny("MAILBOXOUT", "stop@remote.test");
    await h.send("alice@origin.test", ["x@sub.blocked.test", "stop@remote.test"]);
    const [bounce] = await h.waitForBounces(1);
    const dsn = checkEnvelope(bounce, "alice@origin.test");
    deepStrictEqual(dsn.recipients.map((r) => [r.get("final-recipient"), r.get("status")]), [
      ["rfc822; x@sub.blocked.test", "5.7.1"],
      ["rfc822; stop@remote.test", "5.7.1"],
    ]);
    equal(sink.connections, 0);
    // From <> on a server without local domains or Postmaster key: nobody to tell (a
    // double bounce needs a postmaster), so the 550 is logged and dropped.
    await h.send("", ["someone@remote.test"]);
    const deadline = Date.now() + 5000;
    while (h.queue.size() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    equal(h.queue.size(), 0);
    equal(h.bounces.length, 1);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: a DSN to a remote sender goes out through the queue", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({
    rcpt: (to) => (to === "gone@remote.test" ? "550 5.1.1 gone" : undefined),
  });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port }, {
    bouncesToQueue: true,
  });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    dns.add("origin.test", { type: "A", address: "127.0.0.1" });
    await h.send("alice@origin.test", ["gone@remote.test"]);
    const [dsnMail] = await sink.waitFor(1);
    equal(dsnMail.from, "");
    deepStrictEqual(dsnMail.to, ["alice@origin.test"]);
    const dsn = parseDsn(dsnMail.data);
    equal(dsn.recipients[0].get("final-recipient"), "rfc822; gone@remote.test");
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("bounce: a failed message from <> goes once to the postmaster; that notice is never bounced", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ rcpt: () => "550 5.1.1 no such user" });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    await h.ctx.directory.addDomain("b.test");
    await h.ctx.directory.addDomain("a.test");
    const id = await h.send("", ["gone@remote.test"], "the report body");
    const [notice] = await h.waitForBounces(1);
    // HostName is not local: the first local domain's postmaster (SPEC §5 routes it).
    equal(notice.from, "");
    deepStrictEqual(notice.to, ["postmaster@a.test"]);
    const dsn = parseDsn(notice.data);
    equal(dsn.headers.get("to"), "<postmaster@a.test>");
    equal(dsn.headers.get("x-double-bounce"), dsn.perMessage.get("x-queue-id"));
    equal(dsn.perMessage.get("x-queue-id"), id);
    match(dsn.headers.get("subject")!, /^Postmaster Copy/);
    equal(dsn.recipients[0].get("final-recipient"), "rfc822; gone@remote.test");
    equal(dsn.recipients[0].get("status"), "5.1.1");
    // The whole failed report is attached: its reasons are in its body.
    equal(dsn.parts[2].type, "message/rfc822");
    match(dsn.parts[2].body, /the report body/);
    equal(h.ctx.stats.bounced, 1);

    // Should the notice itself fail (a remote Postmaster key that 550s), it is dropped.
    await h.queue.enqueue({ ...notice, id: newQueueId(), to: ["pm@remote.test"] });
    const deadline = Date.now() + 5000;
    while (h.queue.size() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    equal(h.queue.size(), 0);
    equal(sink.commands.filter((c) => c.startsWith("RCPT TO:<pm@remote.test>")).length, 1);
    equal(h.bounces.length, 1, "no report about the notice");
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});
