/**
 * SPEC §4/§8 outbound signing in the real daemon: DKIM ADD (RSA and Ed25519) prints the
 * record, DKIM SHOW and DOMAIN SHOW name the selector, keys are 0600 under DirBase;
 * relayed mail, and the server's own DSN, leave with a DKIM-Signature that dkimpy (an
 * independent verifier) accepts with the published records; From is oversigned.
 */
import { join } from "node:path";
import { Admin, kv } from "./admin_helper.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { dkimpyVerify } from "./helpers/dkimpy.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { startTestServer } from "./helpers/server.ts";

async function relay(port: number, from: string, to: string, data: string): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    const reply = async () => (await c.readUntil((l) => /^\d{3} /.test(l))).at(-1)!;
    await reply();
    for (const line of ["EHLO client.test", `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, "DATA"]) {
      await c.send(line);
      await reply();
    }
    await c.write(`${data}\r\n.\r\n`);
    const done = await reply();
    await c.send("QUIT");
    return done;
  } finally {
    c.close();
  }
}

/** `Record=<name> TXT "<value>"` as DKIM ADD prints it. */
function parseRecord(line: string): [string, string] {
  const m = /^(\S+) TXT "(.*)"$/.exec(line);
  assert(m, line);
  return [m[1], m[2]];
}

Deno.test("DKIM ADD/SHOW, then relayed mail and a DSN leave signed (dkimpy verifies RSA and Ed25519)", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({
    rcpt: (to) => (to.startsWith("nobody@") ? "550 5.1.1 no" : undefined),
  });
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  const srv = await startTestServer({
    config: { DNSServer: [dns.server], OutboundPort: sink.port, QueueRetry: [1] },
  });
  const admin = await Admin.open(srv.ports.admin);
  try {
    await admin.okData("DOMAIN ADD NAME=test.example");
    await admin.okData("DOMAIN ADD NAME=ed.example");
    const rsa = kv(await admin.okData("DKIM ADD DOMAIN=test.example SELECTOR=rsa1"));
    assertEquals(rsa.Selector, "rsa1");
    assertMatch(
      rsa.Record,
      /^rsa1\._domainkey\.test\.example TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}"$/,
    );
    const ed = kv(await admin.okData("DKIM ADD DOMAIN=ed.example TYPE=ED25519"));
    assertMatch(ed.Selector, /^x\d{8}$/, "SPEC §8 default selector");
    assertMatch(ed.Record, /TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/);
    const records = Object.fromEntries([parseRecord(rsa.Record), parseRecord(ed.Record)]);
    for (const [name, value] of Object.entries(records)) dns.txt(name, value);

    const show = await admin.okData("DKIM SHOW ALL");
    assert(
      show.some((l) =>
        /^test\.example Selector=rsa1 Type=RSA .* Active=YES Record=rsa1\._domainkey\./.test(l)
      ),
      show.join("\n"),
    );
    assertEquals(kv(await admin.okData("DOMAIN SHOW NAME=ed.example")).DKIMSelector, ed.Selector);
    const keyFile = join(srv.dirBase, "data", "dkim", "test.example", "rsa1.json");
    assertEquals((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    await admin.refused("DKIM ADD DOMAIN=test.example SELECTOR=rsa1", /already has a key/);
    await admin.refused("DKIM ADD DOMAIN=test.example TYPE=DSA", /TYPE=RSA or TYPE=ED25519/);

    const body = (from: string, id: string) =>
      `From: Alice <${from}>\r\nTo: bob@remote.test\r\nSubject: signed ${id}\r\n` +
      `Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <${id}@x>\r\n\r\nBody of ${id}.`;
    assertMatch(
      await relay(
        srv.ports.smtp,
        "alice@test.example",
        "bob@remote.test",
        body("alice@test.example", "r1"),
      ),
      /^250/,
    );
    assertMatch(
      await relay(
        srv.ports.smtp,
        "eve@ed.example",
        "bob@remote.test",
        body("eve@ed.example", "e1"),
      ),
      /^250/,
    );
    const [m1, m2] = await sink.waitFor(2);
    const byId = (id: string) => [m1, m2].find((m) => m.text.includes(`<${id}@x>`))!;
    const signedRsa = byId("r1");
    const signedEd = byId("e1");
    const unfolded = (t: string) => t.replace(/\r\n[ \t]+/g, " ");
    assertMatch(
      unfolded(signedRsa.text),
      /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=test\.example; s=rsa1;/,
    );
    assertMatch(
      unfolded(signedEd.text),
      /^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=ed\.example;/,
    );
    const h = /h=([^;]+);/.exec(signedRsa.text.replace(/\r\n\s+/g, " "))![1].split(":");
    assertEquals(h.filter((n) => n === "from").length, 2, "From oversigned");
    for (
      const n of [
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "reply-to",
      ]
    ) {
      assert(h.includes(n), `h= covers ${n}`);
    }
    assertEquals(await dkimpyVerify(signedRsa.data, records), "pass");
    assertEquals(await dkimpyVerify(signedEd.data, records), "pass");
    // Altered in transit: the same verifier says no.
    const altered = new TextEncoder().encode(signedRsa.text.replace("Body of r1", "Body of r2"));
    assertEquals(await dkimpyVerify(altered, records), "fail");
    console.log(
      `--- signed message (RSA) ---\n${signedRsa.text}\n--- records ---\n${
        Object.entries(records).map(([n, v]) => `${n} TXT "${v}"`).join("\n")
      }`,
    );

    // The server's own DSN is signed with the key of HostName's domain (test.example).
    dns.add("origin.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
    await relay(
      srv.ports.smtp,
      "sender@origin.test",
      "nobody@remote.test",
      body("sender@origin.test", "b1"),
    );
    const dsn = (await sink.waitFor(3)).find((m) => m.from === "")!;
    assertMatch(dsn.text, /^DKIM-Signature: [^]*d=test\.example;/);
    assertEquals(await dkimpyVerify(dsn.data, records), "pass");
  } finally {
    admin.close();
    await srv.stop();
    await sink.close();
    dns.close();
  }
});
