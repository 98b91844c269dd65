/**
 * Outbound delivery end to end, in-process: fake DNS and sink SMTP servers on loopback.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { newQueueId } from "../src/queue/id.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { simpleMessage, startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";

const until = async (cond: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
};

Deno.test("queue: exact envelope and body reach the MX; the spool is emptied", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ starttls: true });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
    dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
    const id = newQueueId();
    // A body with leading dots, a lone dot line and 8-bit text.
    const body = ".hidden\r\n.\r\n..two\r\nnot.leading\r\nUTF-8: \u00e9t\u00e9";
    const data = simpleMessage(
      "alice@origin.test",
      ["bob@remote.test", "carol@Remote.TEST"],
      body,
      id,
    );
    await h.queue.enqueue({
      id,
      from: "alice@origin.test",
      to: ["bob@remote.test", "carol@Remote.TEST"],
      data,
      eightBit: true,
    });
    const [msg] = await sink.waitFor(1);
    equal(msg.from, "alice@origin.test");
    deepStrictEqual(msg.to, ["bob@remote.test", "carol@Remote.TEST"]);
    deepStrictEqual(msg.data, data);
    equal(msg.helo, "mail.test.example");
    equal(msg.tls, true, "opportunistic STARTTLS with an unverified certificate");
    match(msg.params, new RegExp(`SIZE=${data.length}`));
    match(msg.params, /BODY=8BITMIME/);
    await until(() => h.queue.size() === 0);
    equal(h.ctx.stats.delivered, 1);
    const left = [...Deno.readDirSync(h.queue.spool.dir)].map((e) => e.name);
    deepStrictEqual(left, []);
    // The two recipients of one domain went over one connection, in one transaction.
    equal(sink.connections, 1);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("queue: MX preference order, a dead primary, and A fallback without MX", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ hosts: ["127.0.0.1", "127.0.0.2"] });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    // pref.test: best MX on 127.0.0.2, the worse one on 127.0.0.1.
    dns.add("pref.test", { type: "MX", preference: 20, exchange: "backup.pref.test" });
    dns.add("pref.test", { type: "MX", preference: 5, exchange: "primary.pref.test" });
    dns.add("primary.pref.test", { type: "A", address: "127.0.0.2" });
    dns.add("backup.pref.test", { type: "A", address: "127.0.0.1" });
    // dead.test: the best MX refuses connections (nothing listens on 127.0.0.3).
    dns.add("dead.test", { type: "MX", preference: 1, exchange: "down.dead.test" });
    dns.add("dead.test", { type: "MX", preference: 2, exchange: "up.dead.test" });
    dns.add("down.dead.test", { type: "A", address: "127.0.0.3" });
    dns.add("up.dead.test", { type: "A", address: "127.0.0.1" });
    // bare.test: no MX at all, an A record (RFC 5321 §5.1 implicit MX).
    dns.add("bare.test", { type: "A", address: "127.0.0.2" });
    await h.send("a@origin.test", ["x@pref.test"], "pref");
    await h.send("a@origin.test", ["y@dead.test"], "dead");
    await h.send("a@origin.test", ["z@bare.test"], "bare");
    const msgs = await sink.waitFor(3);
    const at = (rcpt: string) => msgs.find((m) => m.to[0] === rcpt)!.localAddress;
    equal(at("x@pref.test"), "127.0.0.2");
    equal(at("y@dead.test"), "127.0.0.1");
    equal(at("z@bare.test"), "127.0.0.2");
    await until(() => h.queue.size() === 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("queue: 4xx is retried on the QueueRetry schedule, then delivered", async () => {
  const dns = await startFakeDns();
  let tries = 0;
  const sink = await startSink({
    rcpt: (to) => (to.startsWith("slow") && ++tries < 3 ? "450 4.2.0 mailbox busy" : undefined),
  });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    QueueRetry: [1],
  });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    const id = await h.send("a@origin.test", ["slow@remote.test", "fast@remote.test"]);
    const [first] = await sink.waitFor(1);
    deepStrictEqual(first.to, ["fast@remote.test"]);
    await until(() => h.queue.list({ id })[0]?.attempts === 1);
    const report = h.queue.list({ id })[0];
    deepStrictEqual(report.pending, ["slow@remote.test"]);
    match(report.lastError, /^450 4\.2\.0 mailbox busy/);
    ok(report.nextAttempt > Date.now() - 100);
    deepStrictEqual(h.queue.list({ domain: "REMOTE.test" }).map((r) => r.id), [id]);
    const msgs = await sink.waitFor(2, 10_000);
    deepStrictEqual(msgs[1].to, ["slow@remote.test"]);
    equal(tries, 3);
    await until(() => h.queue.size() === 0);
    equal(h.bounces.length, 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("queue: many messages to one domain share a few connections", async () => {
  const dns = await startFakeDns();
  const sink = await startSink();
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    ThreadsQueue: 2,
  });
  try {
    dns.add("bulk.test", { type: "A", address: "127.0.0.1" });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => h.send("a@origin.test", [`u${i}@bulk.test`])),
    );
    await sink.waitFor(30);
    ok(sink.connections <= 4, `${sink.connections} connections for 30 messages`);
    equal(dns.count("bulk.test", "MX"), 1, "the MX answer is cached");
    await until(() => h.queue.size() === 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("queue: FLUSH retries at once, DEL drops the message", async () => {
  const dns = await startFakeDns();
  let open = false;
  const sink = await startSink({ rcpt: () => (open ? undefined : "451 4.3.0 not yet") });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    OutboundPort: sink.port,
    QueueRetry: [3600],
  });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    const keep = await h.send("a@origin.test", ["k@remote.test"]);
    const drop = await h.send("a@origin.test", ["d@remote.test"]);
    await until(() => h.queue.list().every((r) => r.attempts === 1));
    equal(h.queue.size(), 2);
    equal(await h.queue.remove(drop), true);
    equal(await h.queue.remove(drop), false);
    equal(h.queue.flush("00000000000000"), false);
    open = true;
    equal(h.queue.flush(keep), true);
    const [msg] = await sink.waitFor(1);
    deepStrictEqual(msg.to, ["k@remote.test"]);
    await until(() => h.queue.size() === 0);
    const left = [...Deno.readDirSync(h.queue.spool.dir)];
    equal(left.length, 0);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});
