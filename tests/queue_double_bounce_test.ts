/**
 * Double bounces in the real daemon (SPEC §5 postmaster@, §6 DSN), as Postfix does them: a
 * message from the null sender relayed to a remote address that answers 550 cannot be
 * returned to its sender, so the report goes to the local postmaster (here the Maildir
 * DirBase/postmaster/) once. With a remote `Postmaster` key that 550s too, that notice
 * fails in turn and is logged and dropped: nothing loops.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { seedUsers } from "./helpers/imap.ts";
import { parseDsn } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { startTestServer } from "./helpers/server.ts";
import { AdminWire, maildirTexts, sendMail, until } from "./helpers/spec.ts";

const rcptsTo = (commands: string[], address: string) =>
  commands.filter((c) => c.toLowerCase() === `rcpt to:<${address}>`).length;

Deno.test("double bounce: <> mail that 550s reaches DirBase/postmaster/ once; a failing notice is dropped", async () => {
  const dns = await startFakeDns();
  dns.add("remote.test", { type: "A", address: "127.0.0.1" });
  const sink = await startSink({ rcpt: () => "550 5.1.1 no such user here" });
  const seed = await seedUsers({ "bob@test.example": "pw" });
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: { DNSServer: [dns.server], OutboundPort: sink.port, QueueRetry: [1] },
  });
  const admin = await AdminWire.open(srv.ports.admin);
  const pmMaildir = join(srv.config.DirBase, "postmaster");
  try {
    // 1. test.example has no postmaster and the key is "": DirBase/postmaster/ gets it.
    const first = await sendMail({
      port: srv.ports.smtp,
      from: "",
      to: ["gone@remote.test"],
      data: "From: MAILER-DAEMON@elsewhere.test\r\nSubject: a report\r\n\r\nFirst report.\r\n",
    });
    assertMatch(first.data ?? "", /^250 /);
    await until(async () => (await maildirTexts(pmMaildir)).length === 1, 20_000, "the notice");
    const [text] = await maildirTexts(pmMaildir);
    const dsn = parseDsn(new TextEncoder().encode(text.slice(text.indexOf("From: "))));
    assertEquals(dsn.headers.get("to"), "<postmaster@test.example>");
    assertMatch(dsn.headers.get("subject") ?? "", /^Postmaster Copy/);
    assert(dsn.headers.has("x-double-bounce"), "marked as a double bounce");
    assertEquals(dsn.recipients[0].get("final-recipient"), "rfc822; gone@remote.test");
    assertEquals(dsn.recipients[0].get("diagnostic-code"), "smtp; 550 5.1.1 no such user here");
    assertMatch(dsn.parts[2].body, /First report\./);

    // 2. A remote Postmaster key that refuses too: the notice is tried once, then dropped.
    await srv.rewriteConfig({ Postmaster: "admin@remote.test" });
    await admin.ok("RELOAD");
    const second = await sendMail({ port: srv.ports.smtp, from: "", to: ["gone@remote.test"] });
    assertMatch(second.data ?? "", /^250 /);
    await srv.waitForLog(/undeliverable double bounce dropped for <admin@remote\.test>/, 20_000);
    // Two retry intervals later nothing more has been tried or queued.
    await new Promise((r) => setTimeout(r, 2500));
    assertEquals(rcptsTo(sink.commands, "gone@remote.test"), 2);
    assertEquals(rcptsTo(sink.commands, "admin@remote.test"), 1);
    assertEquals(await admin.ok("QUEUE SHOW ALL"), []);
    assertEquals((await maildirTexts(pmMaildir)).length, 1);
  } finally {
    admin.close();
    await srv.stop();
    await sink.close();
    dns.close();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
