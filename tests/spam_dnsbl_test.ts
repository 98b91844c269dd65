/**
 * SPEC §9 DNSBL against a fake DNS server: a listed client is refused at RCPT with
 * `554 5.7.1` naming the zone, postmaster@ is still accepted, unlisted clients are
 * accepted, a DNS failure accepts (and logs), LocalIP and authenticated clients are not
 * looked up, and one connection asks once. Then the same over real SMTP with the daemon.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { type FakeDns, startFakeDns } from "./helpers/fake_dns.ts";
import { startTestServer } from "./helpers/server.ts";
import { seedUsers } from "./helpers/imap.ts";
import { fixture, send, session, SIMPLE, users } from "./delivery_fixture.ts";

const LISTED = "192.0.2.66";
const CLEAN = "192.0.2.10";

function zones(dns: FakeDns): void {
  // RFC 5782 §2.1: 192.0.2.66 listed in bl.test with 127.0.0.2; nothing else listed.
  dns.add("66.2.0.192.bl.test", { type: "A", address: "127.0.0.2" });
  // An IPv6 listing (§2.4: nibbles reversed).
  dns.add(
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
    { type: "A", address: "127.0.0.4" },
  );
}

Deno.test("dnsbl: listed clients refused at RCPT naming the zone; postmaster@, unlisted, trusted accepted", async () => {
  const dns = await startFakeDns();
  zones(dns);
  const fx = await fixture({ DNSServer: [dns.server], DNSBL: ["clean.test", "bl.test"] });
  try {
    const { ctx } = fx;
    const { bob } = await users(ctx, ["bob", "postmaster"]);
    const from = "alice@remote.example";
    const info = session({ clientIp: LISTED });
    const r = await send(ctx, {
      from,
      to: ["bob@test.example", "postmaster@test.example", "Postmaster"],
      data: SIMPLE,
      info,
    });
    assertEquals([r.rcpt[0].code, r.rcpt[0].enhanced], [554, "5.7.1"]);
    assertMatch(r.rcpt[0].text, /\[192\.0\.2\.66\] blocked using bl\.test/);
    assertEquals(r.rcpt[1].code, 250, "postmaster@ a local domain (RFC 5321 §4.5.1)");
    assertEquals(r.rcpt[2].code, 250, "bare <postmaster>");
    assertEquals(r.data?.code, 250);
    // One look-up per zone for the whole connection.
    assertEquals(dns.count("66.2.0.192.bl.test", "A"), 1);
    assertEquals(dns.count("66.2.0.192.clean.test", "A"), 1);

    const v6 = await send(ctx, {
      from,
      to: ["bob@test.example"],
      data: SIMPLE,
      info: session({ clientIp: "2001:db8::1" }),
    });
    assertEquals(v6.rcpt[0].code, 554);

    const clean = await send(ctx, {
      from,
      to: ["bob@test.example"],
      data: SIMPLE,
      info: session({ clientIp: CLEAN }),
    });
    assertEquals(clean.rcpt[0].code, 250);

    // Exempt: LocalIP and authenticated clients are never looked up.
    const asked = dns.asked.length;
    for (const exempt of [session({ clientIp: "127.0.0.1" }), session({ authUser: bob })]) {
      const e = await send(ctx, { from, to: ["bob@test.example"], data: SIMPLE, info: exempt });
      assertEquals(e.rcpt[0].code, 250);
    }
    assertEquals(dns.asked.length, asked);
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("dnsbl: a zone that fails (SERVFAIL, refused query) accepts the client", async () => {
  const dns = await startFakeDns();
  // Spamhaus answers 127.255.255.254 to queries from public resolvers: not a listing.
  dns.add("66.2.0.192.refusing.test", { type: "A", address: "127.255.255.254" });
  dns.servfail.add("66.2.0.192.broken.test");
  const fx = await fixture({ DNSServer: [dns.server], DNSBL: ["broken.test", "refusing.test"] });
  try {
    await users(fx.ctx, ["bob"]);
    const r = await send(fx.ctx, {
      from: "alice@remote.example",
      to: ["bob@test.example"],
      data: SIMPLE,
      info: session({ clientIp: LISTED }),
    });
    assertEquals(r.rcpt[0].code, 250);
    assertEquals(r.data?.code, 250);
  } finally {
    await fx.close();
    dns.close();
  }
});

/** Reads one SMTP reply (its last line). */
async function reply(c: LineClient): Promise<string> {
  for (;;) {
    const line = await c.readLine();
    if (line === null) throw new Error("connection closed");
    if (/^\d{3} /.test(line)) return line;
  }
}

Deno.test("dnsbl: over SMTP, a listed client gets 554 at RCPT and a DNS failure is logged", async () => {
  const dns = await startFakeDns();
  // The test client is 127.0.0.1, made untrusted by a LocalIP that does not hold it.
  dns.add("1.0.0.127.bl.test", { type: "A", address: "127.0.0.2" });
  dns.servfail.add("1.0.0.127.broken.test");
  const seed = await seedUsers({ "bob@test.example": "pw", "postmaster@test.example": "pw" });
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: {
      DNSServer: [dns.server],
      DNSBL: ["broken.test", "bl.test"],
      LocalIP: ["10.255.0.0/16"],
      InboundAuth: "off",
    },
  });
  try {
    const c = await LineClient.connect(srv.ports.smtp);
    try {
      assertMatch(await reply(c), /^220 /);
      await c.send("EHLO client.example");
      assertMatch(await reply(c), /^250 /);
      await c.send("MAIL FROM:<alice@remote.example>");
      assertMatch(await reply(c), /^250 /);
      await c.send("RCPT TO:<bob@test.example>");
      assertMatch(await reply(c), /^554 5\.7\.1 .*blocked using bl\.test/);
      await c.send("RCPT TO:<postmaster@test.example>");
      assertMatch(await reply(c), /^250 /);
      await c.send("QUIT");
      assertMatch(await reply(c), /^221 /);
    } finally {
      c.close();
    }
    const line = await srv.waitForLog(/DNSBL broken\.test: [^\n]*not refused/);
    assert(line.includes("127.0.0.1"));
    await srv.waitForLog(/listed in bl\.test \(127\.0\.0\.2\)/);
  } finally {
    await srv.stop();
    dns.close();
  }
});
