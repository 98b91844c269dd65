import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { DnsTempError, Resolver } from "../src/dns/resolver.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { mailauthResolver } from "../src/mailauth/dns.ts";

function resolverFor(server: string, now?: () => number): Resolver {
  return new Resolver({ servers: () => [server], timeoutMs: 300, budgetMs: 300, now });
}

Deno.test("dns: MX hosts in preference order, equal preferences shuffled", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("example.test", { type: "MX", preference: 20, exchange: "c.example.test" });
    dns.add("example.test", { type: "MX", preference: 10, exchange: "a.example.test" });
    dns.add("example.test", { type: "MX", preference: 10, exchange: "b.example.test" });
    const r = resolverFor(dns.server);
    const firsts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const mx = await r.lookupMx("example.test");
      if (mx.kind !== "mx") throw new Error(`unexpected ${mx.kind}`);
      deepStrictEqual(mx.hosts.map((h) => h.preference), [10, 10, 20]);
      equal(mx.hosts[2].host, "c.example.test");
      firsts.add(mx.hosts[0].host);
    }
    deepStrictEqual([...firsts].sort(), ["a.example.test", "b.example.test"]);
    // All forty look-ups came from the cache but the first.
    equal(dns.count("example.test", "MX"), 1);
  } finally {
    dns.close();
  }
});

Deno.test("dns: null MX, implicit MX, NXDOMAIN", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("nomail.test", { type: "MX", preference: 0, exchange: "" });
    dns.add("plain.test", { type: "A", address: "192.0.2.7" });
    const r = resolverFor(dns.server);
    deepStrictEqual(await r.lookupMx("nomail.test"), { kind: "nullmx" });
    deepStrictEqual(await r.lookupMx("plain.test"), { kind: "implicit" });
    deepStrictEqual(await r.lookupMx("missing.test"), { kind: "nxdomain" });
    deepStrictEqual(await r.lookupAddresses("plain.test"), ["192.0.2.7"]);
    deepStrictEqual(await r.lookupAddresses("missing.test"), []);
    deepStrictEqual(await r.lookupAddresses("192.0.2.9"), ["192.0.2.9"]);
  } finally {
    dns.close();
  }
});

Deno.test("dns: CNAMEs are followed and each link is cached", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("alias.test", { type: "CNAME", target: "real.test" }, 100);
    dns.add("real.test", { type: "MX", preference: 5, exchange: "mx.real.test" });
    dns.add("mx.real.test", { type: "CNAME", target: "host.real.test" });
    dns.add("host.real.test", { type: "A", address: "192.0.2.3" });
    dns.add("host.real.test", { type: "AAAA", address: "2001:db8::3" });
    const r = resolverFor(dns.server);
    deepStrictEqual(await r.lookupMx("alias.test"), {
      kind: "mx",
      hosts: [{ preference: 5, host: "mx.real.test" }],
    });
    deepStrictEqual(await r.lookupAddresses("mx.real.test"), ["192.0.2.3", "2001:db8::3"]);
    const rows = r.cache.entries("alias.test");
    deepStrictEqual(rows.map((e) => [e.name, e.type, e.value]), [[
      "alias.test",
      "CNAME",
      "real.test",
    ]]);
    // The A answer for mx.real.test is cached under the canonical name.
    ok(r.cache.entries("real.test").some((e) => e.name === "host.real.test" && e.type === "A"));
  } finally {
    dns.close();
  }
});

Deno.test("dns: TTLs are honoured and capped at one day; flush forgets", async () => {
  const dns = await startFakeDns();
  let now = 1_000_000;
  try {
    dns.add("short.test", { type: "A", address: "192.0.2.1" }, 30);
    dns.add("long.test", { type: "A", address: "192.0.2.2" }, 7 * 86400);
    const r = resolverFor(dns.server, () => now);
    await r.lookupAddresses("short.test");
    await r.lookupAddresses("long.test");
    const long = r.cache.entries("long.test").find((e) => e.type === "A")!;
    equal(long.expiresAt, now + 86400 * 1000);
    now += 29_000;
    await r.lookupAddresses("short.test");
    equal(dns.count("short.test", "A"), 1);
    now += 2_000;
    await r.lookupAddresses("short.test");
    equal(dns.count("short.test", "A"), 2);
    // Negative answers are cached for the SOA minimum (RFC 2308 §5): 60 s here.
    ok(r.cache.entries("short.test").some((e) => e.type === "AAAA" && e.value === "NODATA"));
    ok(r.cache.flush("long.test") >= 1);
    equal(r.cache.entries("long.test").length, 0);
    ok(r.cache.flush() > 0);
    equal(r.cache.entries().length, 0);
  } finally {
    dns.close();
  }
});

Deno.test("dns: SERVFAIL and silence are temporary errors; truncation falls back to TCP", async () => {
  const dns = await startFakeDns();
  try {
    dns.servfail.add("broken.test");
    dns.silent.add("slow.test");
    const r = resolverFor(dns.server);
    await rejects(r.lookupMx("broken.test"), DnsTempError);
    await rejects(r.lookupMx("slow.test"), DnsTempError);
    equal(r.cache.entries("broken.test").length, 0);
    dns.truncateUdp = true;
    dns.add("big.test", { type: "MX", preference: 1, exchange: "mx.big.test" });
    deepStrictEqual(await r.lookupMx("big.test"), {
      kind: "mx",
      hosts: [{ preference: 1, host: "mx.big.test" }],
    });
  } finally {
    dns.close();
  }
});

Deno.test("dns: concurrent identical look-ups share one query", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("busy.test", { type: "MX", preference: 1, exchange: "mx.busy.test" });
    const r = resolverFor(dns.server);
    await Promise.all(Array.from({ length: 20 }, () => r.lookupMx("busy.test")));
    equal(dns.count("busy.test", "MX"), 1);
  } finally {
    dns.close();
  }
});

Deno.test("dns: a silent AAAA does not hold up an A answer", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("v4only.test", { type: "A", address: "192.0.2.44" });
    dns.silent.add("v4only.test AAAA");
    const r = new Resolver({ servers: () => [dns.server], timeoutMs: 1500, budgetMs: 1500 });
    const started = Date.now();
    deepStrictEqual(await r.lookupAddresses("v4only.test"), ["192.0.2.44"]);
    ok(Date.now() - started < 1000, "answered within the RFC 8305 grace period");
    // The AAAA query is still running; let it time out before the test ends.
    await new Promise((res) => setTimeout(res, 1600));
  } finally {
    dns.close();
  }
});

Deno.test("dns: DNS CACHE scope of DOMAIN= covers the MX hosts' address records", async () => {
  const dns = await startFakeDns();
  try {
    dns.add("scope.test", { type: "MX", preference: 10, exchange: "mx.provider.test" });
    dns.add("mx.provider.test", { type: "CNAME", target: "real.provider.test" });
    dns.add("real.provider.test", { type: "A", address: "192.0.2.9" });
    dns.add("other.test", { type: "A", address: "192.0.2.10" });
    const r = resolverFor(dns.server, () => 1_000_000);
    const mx = await r.lookupMx("scope.test");
    equal(mx.kind, "mx");
    await r.lookupAddresses("mx.provider.test");
    await r.lookupAddresses("other.test");
    const names = new Set(r.cache.entries("scope.test").map((e) => e.name));
    deepStrictEqual([...names].sort(), ["mx.provider.test", "real.provider.test", "scope.test"]);
    ok(r.cache.flush("scope.test") >= 3);
    deepStrictEqual(r.cache.entries().map((e) => e.name), ["other.test", "other.test"]);
  } finally {
    dns.close();
  }
});

Deno.test("dns: TXT and PTR through mailauth's resolver shape; NXDOMAIN, NODATA, SERVFAIL codes", async () => {
  const dns = await startFakeDns();
  try {
    dns.txt("long.test", "v=DKIM1; p=" + "A".repeat(400));
    dns.add("9.2.0.192.in-addr.arpa", { type: "PTR", host: "host.test" });
    dns.servfail.add("broken.test");
    const resolve = mailauthResolver(resolverFor(dns.server, () => 1_000_000));
    const txt = await resolve("long.test", "TXT") as string[][];
    equal(txt[0].join(""), "v=DKIM1; p=" + "A".repeat(400));
    ok(txt[0].length >= 2, "split into strings of at most 255 octets");
    deepStrictEqual(await resolve("9.2.0.192.in-addr.arpa", "PTR"), ["host.test"]);
    const code = (p: Promise<unknown>) => p.then(() => "none", (e) => e.code);
    equal(await code(resolve("missing.test", "TXT")), "ENOTFOUND");
    equal(await code(resolve("long.test", "MX")), "ENODATA");
    equal(await code(resolve("broken.test", "TXT")), "ESERVFAIL");
  } finally {
    dns.close();
  }
});
