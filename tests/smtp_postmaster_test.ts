/**
 * SPEC §5 postmaster over real SMTP (python smtplib against the daemon), from a client a
 * DNSBL lists (fake DNS, as in spam_dnsbl_test.ts): postmaster@ a domain with its own user
 * reaches that user; without one, the Maildir DirBase/postmaster/ (read back with Python's
 * mailbox.Maildir); after RELOAD with `Postmaster` set, a local address; then a remote one,
 * sent through the queue to a sink MX although the client may not relay.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { seedUsers } from "./helpers/imap.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { python, startTestServer } from "./helpers/server.ts";
import { AdminWire, maildirTexts } from "./helpers/spec.ts";

const SEND = `
import json, smtplib, sys
port, rcpts, subject = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.example")
s.mail("alice@remote.example")
replies = [list(s.rcpt(r)) for r in rcpts]
data = None
if any(code == 250 for code, _ in replies):
    data = list(s.data(f"From: alice@remote.example\\r\\nSubject: {subject}\\r\\n\\r\\nhello\\r\\n".encode()))
s.quit()
print(json.dumps({"rcpt": [[c, m.decode()] for c, m in replies], "data": data and [data[0], data[1].decode()]}))
`;

interface Sent {
  rcpt: [number, string][];
  data: [number, string] | null;
}

async function send(port: number, rcpts: string[], subject: string): Promise<Sent> {
  return JSON.parse(await python(SEND, [String(port), rcpts.join(","), subject]));
}

/** Subjects of a Maildir read by Python's mailbox module, as any Maildir tool would. */
async function subjectsByPython(folder: string): Promise<string[]> {
  const out = await python(
    `import json, mailbox, sys
print(json.dumps(sorted(m["Subject"] for m in mailbox.Maildir(sys.argv[1], create=False))))`,
    [folder],
  );
  return JSON.parse(out);
}

Deno.test("postmaster over SMTP: own user, DirBase/postmaster/, Postmaster local and remote after RELOAD; DNSBL-listed client", async () => {
  const dns = await startFakeDns();
  // The test client is 127.0.0.1, made untrusted (and DNSBL-listed) by a LocalIP that does
  // not hold it.
  dns.add("1.0.0.127.bl.test", { type: "A", address: "127.0.0.2" });
  const sink = await startSink();
  const seed = await seedUsers({
    "bob@test.example": "pw",
    "postmaster@test.example": "pw",
    "boss@other.example": "pw",
  });
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: {
      DNSServer: [dns.server],
      DNSBL: ["bl.test"],
      LocalIP: ["10.255.0.0/16"],
      InboundAuth: "off",
      RelayHost: `127.0.0.1:${sink.port}`,
    },
  });
  const admin = await AdminWire.open(srv.ports.admin);
  const pmMaildir = join(srv.config.DirBase, "postmaster");
  try {
    // 1. The domain's own postmaster user; the listed client is refused for anyone else.
    const own = await send(srv.ports.smtp, ["bob@test.example", "postmaster@test.example"], "own");
    assertMatch(own.rcpt[0][1], /blocked using bl\.test/);
    assertEquals([own.rcpt[0][0], own.rcpt[1][0], own.data?.[0]], [554, 250, 250]);
    const pmTexts = await maildirTexts(seed.roots["postmaster@test.example"]);
    assertEquals(pmTexts.length, 1);
    assertMatch(pmTexts[0], /Subject: own/);

    // 2. No postmaster at other.example, Postmaster = "": DirBase/postmaster/, made now.
    const kept = await send(srv.ports.smtp, ["PostMaster@other.example", "Postmaster"], "kept");
    assertEquals([kept.rcpt[0][0], kept.rcpt[1][0], kept.data?.[0]], [250, 250, 250]);
    assertEquals(await subjectsByPython(pmMaildir), ["kept"]);
    assertEquals((await maildirTexts(seed.roots["boss@other.example"])).length, 0);

    // 3. RELOAD with Postmaster naming a local user.
    await srv.rewriteConfig({ Postmaster: "boss@other.example" });
    await admin.ok("RELOAD");
    const local = await send(srv.ports.smtp, ["postmaster@other.example"], "local");
    assertEquals([local.rcpt[0][0], local.data?.[0]], [250, 250]);
    const bossTexts = await maildirTexts(seed.roots["boss@other.example"]);
    assertEquals(bossTexts.length, 1);
    assertMatch(bossTexts[0], /Subject: local/);
    // test.example's own postmaster still comes first.
    await send(srv.ports.smtp, ["postmaster@test.example"], "own again");
    assertEquals((await maildirTexts(seed.roots["postmaster@test.example"])).length, 2);

    // 4. RELOAD with a remote Postmaster: through the queue, though the client may not relay.
    await srv.rewriteConfig({ Postmaster: "admin@remote.example" });
    await admin.ok("RELOAD");
    const relay = await send(srv.ports.smtp, ["admin@remote.example"], "refused");
    assertEquals(relay.rcpt[0][0], 554, "the listed client itself may not relay");
    const remote = await send(srv.ports.smtp, ["postmaster@other.example"], "remote");
    assertEquals([remote.rcpt[0][0], remote.data?.[0]], [250, 250]);
    const [out] = await sink.waitFor(1);
    assertEquals(out.to, ["admin@remote.example"]);
    assert(out.text.includes("Subject: remote"), out.text);
    // Nothing more went to the local mailboxes.
    assertEquals(await subjectsByPython(pmMaildir), ["kept"]);
    assertEquals((await maildirTexts(seed.roots["boss@other.example"])).length, 1);
  } finally {
    admin.close();
    await srv.stop();
    await sink.close();
    dns.close();
  }
});
