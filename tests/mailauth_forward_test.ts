/**
 * SPEC §8 forwarding: a forwarded copy leaves with an SRS sender in the forwarding
 * domain and an ARC set that verifiers accept (mailauth and dkimpy's arc_verify); list
 * copies are sealed by the list domain; a bounce to the SRS address reaches the original
 * sender; forged and expired SRS addresses are refused with 550 5.1.1.
 */
import { join } from "node:path";
import { authenticate } from "mailauth";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { dkimpyArcVerify } from "./helpers/dkimpy.ts";
import { fixture, message, send, session, text, users } from "./delivery_fixture.ts";
import { testKey } from "./helpers/dkim_keys.ts";
import { dnsRecord } from "../src/mailauth/keys.ts";
import { dkimSignature } from "../src/mailauth/sign.ts";
import { Srs } from "../src/mailauth/srs.ts";
import { mailauthResolver } from "../src/mailauth/dns.ts";
import { Resolver } from "../src/dns/resolver.ts";

const enc = new TextEncoder();

Deno.test("forward: SRS sender, a valid ARC set; the bounce to it reaches the original sender", async () => {
  const dns = await startFakeDns();
  const fx = await fixture({ DNSServer: [dns.server], InboundAuth: "tag" });
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["fwd", "bob"]);
    await ctx.directory.modUser("fwd", "test.example", { forward: ["far@remote.example"] });
    const ours = await ctx.auth.keys.add("test.example", "fw1", "rsa");
    const theirs = testKey("sender.example", "s1", "ed25519");
    const records: Record<string, string> = {};
    for (const k of [ours, theirs]) {
      const r = dnsRecord(k);
      dns.txt(r.name, r.value);
      records[r.name] = r.value;
    }
    dns.txt("sender.example", "v=spf1 ip4:192.0.2.10 -all");
    dns.txt("_dmarc.sender.example", "v=DMARC1; p=reject");

    const original = message({
      From: "Alice <alice@sender.example>",
      To: "fwd@test.example",
      Subject: "forward me",
      Date: "Mon, 1 Jan 2024 00:00:00 +0000",
      "Message-ID": "<fw1@sender.example>",
    }, "Forwarded text.\r\n");
    const data = (await dkimSignature(enc.encode(original), theirs)) + original;
    const r = await send(ctx, { from: "alice@sender.example", to: ["fwd@test.example"], data });
    assertEquals(r.data?.code, 250);
    assertEquals(queue.messages.length, 1);
    const out = queue.messages[0];
    assertEquals(out.to, ["far@remote.example"]);
    assertMatch(out.from, /^SRS0=[^=]{4}=[A-Z2-7]{2}=sender\.example=alice@test\.example$/);
    const sent = text(out.data);
    assertMatch(sent, /^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=test\.example; s=fw1;/);
    assertMatch(sent, /\r\nARC-Message-Signature: i=1;/);
    assertMatch(sent, /\r\nARC-Authentication-Results: i=1; mx\.test\.example;[^]*dkim=pass/);

    // The next hop's view: mailauth over the same DNS data, and dkimpy.
    const resolver = mailauthResolver(new Resolver({ servers: () => [dns.server] }));
    const result = await authenticate(
      Buffer.from(out.data),
      {
        ip: "198.51.100.7",
        helo: "mx.test.example",
        sender: out.from,
        mta: "next.example",
        resolver: resolver as never,
        disableBimi: true,
      } as Parameters<typeof authenticate>[1],
    );
    assertEquals(result.arc && result.arc.status.result, "pass");
    assertMatch(await dkimpyArcVerify(out.data, records), /^pass\b/);

    // The next hop bounces to the SRS address: reversed at RCPT, relayed to the sender.
    const bounce = await send(ctx, {
      from: "",
      to: [out.from],
      data: message({ From: "MAILER-DAEMON@remote.example", Subject: "Undelivered" }),
      info: session({ clientIp: "198.51.100.7" }),
    });
    assertEquals(bounce.rcpt[0].code, 250);
    assertEquals(bounce.data?.code, 250);
    assertEquals(queue.messages[1].to, ["alice@sender.example"]);
    assertEquals(queue.messages[1].from, "");
  } finally {
    await fx.close();
    dns.close();
  }
});

Deno.test("forward: forged and expired SRS addresses are refused with 550 5.1.1", async () => {
  const fx = await fixture();
  try {
    const { ctx } = fx;
    await users(ctx, ["bob"]);
    const forged = await send(ctx, {
      from: "",
      to: ["SRS0=AAAA=JZ=sender.example=alice@test.example"],
      data: "Subject: x\r\n\r\nx\r\n",
    });
    assertEquals(forged.rcpt[0].code, 550);
    assertEquals(forged.rcpt[0].enhanced, "5.1.1");
    const secret = enc.encode((await Deno.readTextFile(join(fx.dir, "srs.secret"))).trim());
    const srs = new Srs(secret);
    const old = srs.forward("alice@sender.example", "test.example", Date.now() - 30 * 86400_000);
    const expired = await send(ctx, { from: "", to: [old], data: "Subject: x\r\n\r\nx\r\n" });
    assertEquals(expired.rcpt[0].code, 550);
    assertMatch(expired.rcpt[0].text, /expired/);
    const fresh = srs.forward("alice@sender.example", "test.example");
    assertEquals(ctx.auth.reverseSrs(fresh.toLowerCase()), {
      kind: "original",
      address: "alice@sender.example",
    }, "relays that fold case still match");
  } finally {
    await fx.close();
  }
});

Deno.test("list copies: envelope from the list, ARC-sealed and DKIM d= by the list domain", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob"]);
    await ctx.directory.addList("team", "test.example");
    await ctx.directory.addMember("team", "test.example", "far@remote.example");
    await ctx.auth.keys.add("test.example", "l1", "ed25519");
    const r = await send(ctx, {
      from: "x@remote.example",
      to: ["team@test.example"],
      data: message({ From: "x@remote.example", To: "team@test.example", Subject: "list" }),
      info: session({ clientIp: "127.0.0.1" }),
    });
    assertEquals(r.data?.code, 250);
    const out = queue.messages[0];
    assertEquals(out.from, "team-bounces@test.example");
    assertEquals(out.dkimDomain, "test.example");
    assert(text(out.data).startsWith("ARC-Seal: i=1; a=ed25519-sha256;"), text(out.data));
  } finally {
    await fx.close();
  }
});
