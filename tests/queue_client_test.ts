/**
 * The outbound SMTP client against the sink: RelayHost with AUTH, lock-step without
 * PIPELINING, SIZE, timeouts, and the pure reply/dot-stuffing helpers.
 */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import net from "node:net";
import { parseEhlo, Reply, ReplyParser, SmtpProtocolError } from "../src/queue/wire.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";

const dec = new TextDecoder();

Deno.test("wire: multi-line replies, enhanced codes, EHLO keywords", () => {
  const p = new ReplyParser();
  equal(p.push("250-mx.test hello"), null);
  equal(p.push("250-SIZE 1000"), null);
  equal(p.push("250-AUTH PLAIN LOGIN"), null);
  const r = p.push("250 PIPELINING")!;
  equal(r.code, 250);
  const ext = parseEhlo(r);
  deepStrictEqual([...ext.keys()], ["SIZE", "AUTH", "PIPELINING"]);
  equal(ext.get("SIZE"), "1000");
  const bad = new Reply(550, ["5.1.1 no such user", "second line"]);
  equal(bad.enhanced, "5.1.1");
  equal(bad.toString(), "550 5.1.1 no such user second line");
  equal(new Reply(451, ["try later"]).status, "4.0.0");
  equal(new Reply(451, ["5.1.1 class mismatch"]).enhanced, null);
  equal(new ReplyParser().push("220")!.code, 220);
  throws(() => new ReplyParser().push("hello"), SmtpProtocolError);
  const q = new ReplyParser();
  q.push("250-a");
  throws(() => q.push("251 b"), SmtpProtocolError);
});

Deno.test("client: RelayHost with AUTH PLAIN over loopback, all domains one connection", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ auth: { user: "relay-user", password: "s3cret p\u00e4ss" } });
  const h = await startQueueHarness({
    DNSServer: [dns.server],
    RelayHost: `127.0.0.1:${sink.port}`,
    RelayUser: "relay-user",
    RelayPassword: "s3cret p\u00e4ss",
  });
  try {
    await h.send("a@origin.test", ["x@one.test", "y@two.test"]);
    const [msg] = await sink.waitFor(1);
    equal(msg.authUser, "relay-user");
    deepStrictEqual(msg.to.sort(), ["x@one.test", "y@two.test"]);
    equal(dns.asked.length, 0, "no MX look-up through a smart host");
    ok(sink.commands.some((c) => /^AUTH PLAIN /.test(c)));
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("client: AUTH LOGIN when PLAIN is not offered; a failed STARTTLS falls back", async () => {
  const sink = await startSink({
    auth: { user: "u", password: "p" },
    authMechanisms: ["LOGIN"],
    brokenTls: true,
  });
  const h = await startQueueHarness({
    RelayHost: `127.0.0.1:${sink.port}`,
    RelayUser: "u",
    RelayPassword: "p",
  });
  try {
    await h.send("a@origin.test", ["x@one.test"]);
    const [msg] = await sink.waitFor(1);
    equal(msg.authUser, "u");
    equal(msg.tls, false);
    equal(sink.connections, 2, "one handshake failure, then plaintext to loopback");
    ok(sink.commands.includes("AUTH LOGIN"));
  } finally {
    await h.close();
    await sink.close();
  }
});

Deno.test("client: wrong relay credentials keep the mail queued (no bounce)", async () => {
  const sink = await startSink({ auth: { user: "u", password: "right" } });
  const h = await startQueueHarness({
    RelayHost: `127.0.0.1:${sink.port}`,
    RelayUser: "u",
    RelayPassword: "wrong",
  });
  try {
    const id = await h.send("a@origin.test", ["x@one.test"]);
    for (let i = 0; i < 200 && !(h.queue.list({ id })[0]?.attempts >= 1); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    match(h.queue.list({ id })[0].lastError, /authentication .* failed: 535/);
    equal(h.bounces.length, 0);
  } finally {
    await h.close();
    await sink.close();
  }
});

Deno.test("client: lock-step without PIPELINING; SIZE over the limit bounces 5.3.4", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ pipelining: false, size: 2000 });
  const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
  try {
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    await h.send("a@origin.test", ["x@remote.test", "y@remote.test"]);
    const [msg] = await sink.waitFor(1);
    deepStrictEqual(msg.to, ["x@remote.test", "y@remote.test"]);
    const order = sink.commands.filter((c) => /^(MAIL|RCPT|DATA)/.test(c)).map((c) =>
      c.slice(0, 4)
    );
    deepStrictEqual(order, ["MAIL", "RCPT", "RCPT", "DATA"]);
    await h.send("a@origin.test", ["big@remote.test"], "x".repeat(3000));
    const [bounce] = await h.waitForBounces(1);
    match(dec.decode(bounce.data), /Status: 5\.3\.4/);
    equal(sink.messages.length, 1);
  } finally {
    await h.close();
    await sink.close();
    dns.close();
  }
});

Deno.test("client: a silent server times out; a refusing greeting moves to the next MX", async () => {
  const dns = await startFakeDns();
  // 127.0.0.1:<port>: accepts and never speaks. 127.0.0.2:<port>: the sink, greeting 554.
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  const port = (silent.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  silent.on("connection", (s) => sockets.push(s));
  const refusing = await startSink({
    hosts: ["127.0.0.2"],
    port,
    greeting: () => "554 5.7.1 go away",
  });
  const h = await startQueueHarness(
    { DNSServer: [dns.server], OutboundPort: port },
    { queue: { timeouts: { greeting: 300 } } },
  );
  try {
    dns.add("mute.test", { type: "A", address: "127.0.0.1" });
    dns.add("rude.test", { type: "MX", preference: 1, exchange: "a.rude.test" });
    dns.add("a.rude.test", { type: "A", address: "127.0.0.2" });
    const mute = await h.send("a@origin.test", ["x@mute.test"]);
    const rude = await h.send("a@origin.test", ["y@rude.test"]);
    for (let i = 0; i < 200 && !(h.queue.list({ id: mute })[0]?.attempts >= 1); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    match(
      h.queue.list({ id: mute })[0].lastError,
      /^451 4\.4\.1 timeout after 300 ms waiting for greeting/,
    );
    // The only MX refused with 554 at the greeting: a permanent failure.
    const [bounce] = await h.waitForBounces(1);
    match(dec.decode(bounce.data), /Diagnostic-Code: smtp; 554 5\.4\.0 .*554 5\.7\.1 go away/);
    equal(h.queue.list({ id: rude }).length, 0);
  } finally {
    await h.close();
    await refusing.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(() => r(undefined)));
    dns.close();
  }
});
