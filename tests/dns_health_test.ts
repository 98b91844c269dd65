/**
 * A DNSServer that does not answer (src/dns/health.ts, transport.ts query): a short first
 * try and retries within the look-up's budget; a server silent through two look-ups in a
 * row (the second asked after the first gave up on it) is marked dead, so the look-ups
 * after it fail at once (naming the server) instead of each waiting out the budget, and
 * it is asked again when the mark ends. One slow first answer (a resolver with a cold
 * cache, answering after the budget) and look-ups running beside that first one do not
 * mark it. A resolver that answers other questions is not marked for one silent name;
 * with two servers, the dead one is skipped.
 */
import dgram from "node:dgram";
import { DnsTempError, Resolver } from "../src/dns/resolver.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

/** A UDP socket on loopback that counts datagrams and never answers. */
async function silentServer(): Promise<{ server: string; count: () => number; close(): void }> {
  const socket = dgram.createSocket("udp4");
  let n = 0;
  socket.on("message", () => n++);
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const port = (socket.address() as { port: number }).port;
  return { server: `127.0.0.1:${port}`, count: () => n, close: () => socket.close() };
}

async function failure(p: Promise<unknown>): Promise<DnsTempError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof DnsTempError, String(e));
    return e;
  }
  throw new Error("the look-up did not fail");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("dns health: a dead port is found out in two look-ups; the next fails at once", async () => {
  // Nothing listens on the discard port: the datagrams vanish, no error comes back.
  const r = new Resolver({ servers: () => ["127.0.0.1:9"], timeoutMs: 50, budgetMs: 300 });
  for (const name of ["one.test", "two.test"]) {
    const timedOut = await failure(r.resolve(name, "A"));
    assertEquals(timedOut.code, "ETIMEOUT");
    assert(!/no DNS server answers/.test(timedOut.message), timedOut.message);
  }
  const third = await failure(r.resolve("three.test", "TXT"));
  assertEquals(third.code, "ETIMEOUT");
  assertMatch(third.message, /three\.test TXT: no DNS server answers \(127\.0\.0\.1:9 silent;/);
});

Deno.test("dns health: one late first answer (cold cache) does not mark the server", async () => {
  const dns = await startFakeDns();
  try {
    for (const n of ["cold", "a", "b", "c"]) {
      dns.add(`${n}.test`, { type: "A", address: "192.0.2.5" });
    }
    const r = new Resolver({ servers: () => [dns.server], timeoutMs: 50, budgetMs: 200 });
    dns.udpDelayMs = 600; // answers come after the look-up gave up
    // The first look-up after start, and one beside it (a burst): both time out.
    const [first, beside] = await Promise.all([
      failure(r.resolve("cold.test", "A")),
      failure(r.resolve("a.test", "A")),
    ]);
    assertEquals([first.code, beside.code], ["ETIMEOUT", "ETIMEOUT"]);
    dns.udpDelayMs = 0; // its cache is warm now
    const asked = dns.count("b.test");
    assertEquals((await r.resolve("b.test", "A")).records.length, 1, "still asked, and answers");
    assertEquals(dns.count("b.test"), asked + 1);
    assertEquals((await r.resolve("c.test", "A")).records.length, 1);
  } finally {
    dns.close();
  }
});

Deno.test("dns health: retries after a short first try; a dead server is not asked again", async () => {
  const silent = await silentServer();
  try {
    const r = new Resolver({ servers: () => [silent.server], timeoutMs: 100, budgetMs: 2000 });
    await failure(r.resolve("one.test", "A"));
    assert(
      silent.count() >= 2,
      `a first try and retries within the budget (${silent.count()} sent)`,
    );
    await failure(r.resolve("two.test", "A"));
    const sent = silent.count();
    await failure(r.resolve("three.test", "A"));
    await failure(r.lookupAddresses("four.test"));
    assertEquals(silent.count(), sent, "marked dead: not asked again");
  } finally {
    silent.close();
  }
});

Deno.test("dns health: the mark ends after deadMs and the server is asked again", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("back.test", { type: "A", address: "192.0.2.7" });
    dns.silent.add("back.test");
    const r = new Resolver({
      servers: () => [dns.server],
      timeoutMs: 50,
      budgetMs: 200,
      deadMs: 500,
    });
    await failure(r.resolve("back.test", "A"));
    await failure(r.resolve("back.test", "A")); // silent twice in a row: marked
    const asked = dns.count("back.test");
    dns.silent.clear();
    await failure(r.resolve("back.test", "A"));
    assertEquals(dns.count("back.test"), asked, "while dead: failed without asking");
    await sleep(600);
    const answer = await r.resolve("back.test", "A");
    assertEquals(answer.records, [{ type: "A", address: "192.0.2.7" }]);
  } finally {
    dns.close();
  }
});

Deno.test("dns health: a lost first datagram costs a short retry, and the server stays", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("lossy.test", { type: "A", address: "192.0.2.8" });
    dns.add("next.test", { type: "A", address: "192.0.2.9" });
    dns.silent.add("lossy.test");
    const r = new Resolver({ servers: () => [dns.server], timeoutMs: 200, budgetMs: 20_000 });
    const pending = r.resolve("lossy.test", "A");
    while (dns.count("lossy.test") === 0) await sleep(5);
    dns.silent.clear(); // the first datagram was "lost": the retry is answered
    assertEquals((await pending).records, [{ type: "A", address: "192.0.2.8" }]);
    assert(dns.count("lossy.test") >= 2, "answered on a retry");
    assertEquals((await r.resolve("next.test", "A")).records.length, 1);
  } finally {
    dns.close();
  }
});

Deno.test("dns health: a resolver that answers is not marked dead for one silent name", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("fine.test", { type: "A", address: "192.0.2.1" });
    dns.add("later.test", { type: "A", address: "192.0.2.2" });
    dns.silent.add("stuck.test");
    const r = new Resolver({ servers: () => [dns.server], timeoutMs: 50, budgetMs: 200 });
    await r.resolve("fine.test", "A");
    await failure(r.resolve("stuck.test", "A"));
    assertEquals((await r.resolve("later.test", "A")).records.length, 1);
  } finally {
    dns.close();
  }
});

Deno.test("dns health: with two servers the silent one is skipped once marked", async () => {
  const silent = await silentServer();
  const dns = await startFakeDns();
  try {
    dns.add("a.test", { type: "A", address: "192.0.2.3" });
    dns.add("b.test", { type: "A", address: "192.0.2.4" });
    dns.add("c.test", { type: "A", address: "192.0.2.6" });
    const r = new Resolver({
      servers: () => [silent.server, dns.server],
      timeoutMs: 100,
      budgetMs: 2000,
    });
    assertEquals((await r.resolve("a.test", "A")).records.length, 1);
    assertEquals(silent.count(), 1, "the first server had its short try");
    assertEquals((await r.resolve("b.test", "A")).records.length, 1);
    assertEquals(silent.count(), 2, "and one more: silent twice in a row");
    assertEquals((await r.resolve("c.test", "A")).records.length, 1);
    assertEquals(silent.count(), 2, "then it was skipped");
  } finally {
    silent.close();
    dns.close();
  }
});
