/**
 * SPEC §8 inbound checks through the mail pipeline, against a fake DNS server with the
 * sender domains' SPF, DKIM and DMARC records: one Authentication-Results at the top,
 * Received-SPF, forged results removed, InboundAuth tag/enforce (DMARC reject refused,
 * quarantine to Junk), DNS failures as temperror.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { type FakeDns, startFakeDns } from "./helpers/fake_dns.ts";
import { testKey } from "./helpers/dkim_keys.ts";
import {
  bytes,
  type Fixture,
  fixture,
  message,
  send,
  session,
  text,
  users,
} from "./delivery_fixture.ts";
import { type DkimKey, dnsRecord } from "../src/mailauth/keys.ts";
import { dkimSignature } from "../src/mailauth/sign.ts";

/** The client of the fixture's sessions (not in LocalIP: it is checked). */
const CLIENT = "192.0.2.10";

async function signed(key: DkimKey, msg: string): Promise<string> {
  return (await dkimSignature(bytes(msg), key)) + msg;
}

function publish(dns: FakeDns, key: DkimKey): void {
  const r = dnsRecord(key);
  dns.txt(r.name, r.value);
}

/** The stored copy's header fields above the first Received (ours). */
function traceOf(stored: string): string {
  return stored.slice(0, stored.indexOf("\r\nReceived: ") + 2);
}

async function setup(): Promise<{ dns: FakeDns; fx: Fixture; key: DkimKey }> {
  const dns = await startFakeDns();
  const fx = await fixture({ DNSServer: [dns.server], InboundAuth: "tag" });
  await users(fx.ctx, ["bob"]);
  const key = testKey("sender.example", "s1", "rsa");
  publish(dns, key);
  dns.txt("sender.example", `v=spf1 ip4:${CLIENT} -all`);
  dns.txt("_dmarc.sender.example", "v=DMARC1; p=reject");
  return { dns, fx, key };
}

const mail = (from: string, subject = "Hi") =>
  message({
    From: `<${from}>`,
    To: "bob@test.example",
    Subject: subject,
    Date: "Mon, 1 Jan 2024 00:00:00 +0000",
    "Message-ID": `<${subject.replace(/\W/g, "")}@x>`,
  }, "Hello there.\r\n");

Deno.test("inbound: dkim pass and fail, spf pass, dmarc pass; one Authentication-Results on top", async () => {
  const { dns, fx, key } = await setup();
  try {
    const { ctx } = fx;
    const good = await signed(key, mail("alice@sender.example", "good"));
    assertEquals(
      (await send(ctx, { from: "alice@sender.example", to: ["bob@test.example"], data: good })).data
        ?.code,
      250,
    );
    const altered = (await signed(key, mail("alice@sender.example", "altered")))
      .replace("Hello there.", "Hello there!");
    assertEquals(
      (await send(ctx, { from: "alice@sender.example", to: ["bob@test.example"], data: altered }))
        .data?.code,
      250,
    );
    const [first, second] = await fx.inbox("bob", "test.example");
    const t1 = traceOf(first);
    assertMatch(
      t1,
      /^Return-Path: <alice@sender\.example>\r\nAuthentication-Results: mx\.test\.example;/,
    );
    assertEquals(t1.match(/^Authentication-Results:/gm)?.length, 1);
    assertMatch(t1, /dkim=pass header\.i=@sender\.example header\.s=s1/);
    assertMatch(t1, /spf=pass/);
    assertMatch(t1, /dmarc=pass/);
    assertMatch(t1, /\r\nReceived-SPF: pass /);
    const t2 = traceOf(second);
    assertMatch(t2, /dkim=(fail|neutral)/);
    assertMatch(t2, /dmarc=pass/, "SPF still aligns");
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("inbound: SPF pass, fail, softfail, none and temperror from published records", async () => {
  const { dns, fx } = await setup();
  try {
    dns.txt("fail.example", "v=spf1 -all");
    dns.txt("soft.example", "v=spf1 ~all");
    dns.add("none.example", { type: "MX", preference: 10, exchange: "mx.none.example" });
    dns.servfail.add("temp.example");
    const cases: [string, string][] = [
      ["sender.example", "pass"],
      ["fail.example", "fail"],
      ["soft.example", "softfail"],
      ["none.example", "none"],
      ["temp.example", "temperror"],
    ];
    for (const [domain] of cases) {
      const from = `x@${domain}`;
      const r = await send(fx.ctx, { from, to: ["bob@test.example"], data: mail(from, domain) });
      assertEquals(r.data?.code, 250, `${domain}: DNS errors never refuse (SPEC §8)`);
    }
    const stored = await fx.inbox("bob", "test.example");
    for (const [i, [domain, result]] of cases.entries()) {
      const trace = traceOf(stored[i]);
      assertMatch(trace, new RegExp(`spf=${result}\\b[^;]*smtp\\.mailfrom=x@${domain}`), domain);
      assertMatch(trace, new RegExp(`Received-SPF: ${result}\\b`), domain);
    }
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("inbound: DMARC reject tagged under tag, refused under enforce; quarantine to Junk", async () => {
  const { dns, fx } = await setup();
  try {
    const { ctx } = fx;
    dns.txt("strict.example", "v=spf1 -all");
    dns.txt("_dmarc.strict.example", "v=DMARC1; p=reject");
    dns.txt("quar.example", "v=spf1 -all");
    dns.txt("_dmarc.quar.example", "v=DMARC1; p=quarantine");
    const spoof = mail("ceo@strict.example", "spoof");
    const tagged = await send(ctx, {
      from: "ceo@strict.example",
      to: ["bob@test.example"],
      data: spoof,
    });
    assertEquals(tagged.data?.code, 250);
    assertMatch(traceOf((await fx.inbox("bob", "test.example"))[0]), /dmarc=fail/);

    ctx.config = { ...ctx.config, InboundAuth: "enforce" };
    const refused = await send(ctx, {
      from: "ceo@strict.example",
      to: ["bob@test.example"],
      data: spoof,
    });
    assertEquals(refused.data?.code, 550);
    assertEquals(refused.data?.enhanced, "5.7.1");
    assertMatch(refused.data!.text, /DMARC/);

    const q = await send(ctx, {
      from: "x@quar.example",
      to: ["bob@test.example"],
      data: mail("x@quar.example", "quarantined"),
    });
    assertEquals(q.data?.code, 250);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1, "not in INBOX");
    const bob = ctx.directory.getUser("bob", "test.example")!;
    const junk = await ctx.store.openFolder(ctx.store.userRoot(bob), "Junk");
    assert(junk && junk.messages.size === 1, "in Junk");
    const stored = text(await junk.read([...junk.messages.values()][0]));
    assertMatch(stored, /dmarc=fail[^;]*\(p=quarantine|dmarc=fail/);
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("inbound: an authenticated submission cannot bring results in our authserv-id; a LocalIP relay can", async () => {
  const { dns, fx } = await setup();
  try {
    const { ctx } = fx;
    await users(ctx, ["alice"]);
    const alice = ctx.directory.getUser("alice", "test.example")!;
    // RFC 8601 §5: only a trusted MTA may hand on results in our name; a user's client is none.
    const forged = (subject: string) =>
      "Authentication-Results: mx.test.example; dmarc=pass header.from=bank.example\r\n" +
      "Authentication-Results: other.example; dkim=pass\r\n" + mail("ceo@bank.example", subject);
    const submitted = await send(ctx, {
      from: "alice@test.example",
      to: ["bob@test.example"],
      data: forged("submitted"),
      info: { ...session({ service: "submission", authUser: alice }), id: "sub1" },
    });
    assertMatch(submitted.data!.toString(), /^250 /);
    const relayed = await send(ctx, {
      from: "alice@test.example",
      to: ["bob@test.example"],
      data: forged("relayed"),
      info: session({ clientIp: "127.0.0.1" }),
    });
    assertMatch(relayed.data!.toString(), /^250 /);
    const [sub, relay] = await fx.inbox("bob", "test.example");
    assert(sub.includes("Subject: submitted") && relay.includes("Subject: relayed"));
    assert(!/^Authentication-Results: mx\.test\.example;/im.test(sub), sub);
    assert(sub.includes("Authentication-Results: other.example; dkim=pass"), sub);
    assert(relay.includes("Authentication-Results: mx.test.example; dmarc=pass"), relay);
    assertEquals(dns.asked.length, 0, "neither session is checked (SPEC §8: port 25, untrusted)");
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("inbound: forged results with our authserv-id removed, others kept; off adds nothing", async () => {
  const { dns, fx } = await setup();
  try {
    const { ctx } = fx;
    const forged = "Authentication-Results: MX.TEST.EXAMPLE; spf=pass smtp.mailfrom=x\r\n" +
      "Authentication-Results: other.example; dkim=pass\r\n" + mail("a@sender.example", "forged");
    await send(ctx, { from: "a@sender.example", to: ["bob@test.example"], data: forged });
    const stored = (await fx.inbox("bob", "test.example"))[0];
    assertEquals(stored.match(/^Authentication-Results: mx\.test\.example;/gim)?.length, 1);
    assert(!stored.includes("MX.TEST.EXAMPLE; spf=pass"), "forged field removed");
    assert(stored.includes("Authentication-Results: other.example; dkim=pass"));

    ctx.config = { ...ctx.config, InboundAuth: "off" };
    const asked = dns.asked.length;
    await send(ctx, {
      from: "a@sender.example",
      to: ["bob@test.example"],
      data: mail("a@sender.example", "off"),
    });
    const off = (await fx.inbox("bob", "test.example"))[1];
    assertMatch(off, /^Return-Path: <a@sender\.example>\r\nReceived: /);
    assertEquals(dns.asked.length, asked, "no DNS questions when off");
  } finally {
    await fx.close();
    dns.close();
  }
});
