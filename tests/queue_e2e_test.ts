/**
 * The queue inside the real daemon: mail relayed over SMTP from 127.0.0.1 reaches the
 * remote MX (fake DNS, sink SMTP); a 5xx there comes back to the sender as a DSN through
 * the mail pipeline; the admin port sees the queue and the DNS cache.
 */
import { equal, match, ok } from "node:assert/strict";
import { LineClient } from "./helpers/client.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { parseDsn } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { ADMIN_PASSWORD, startTestServer } from "./helpers/server.ts";

async function smtpSend(port: number, from: string, to: string[], body: string): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    const reply = async () => (await c.readUntil((l) => /^\d{3} /.test(l))).at(-1)!;
    await reply();
    await c.send("EHLO client.test");
    await reply();
    await c.send(`MAIL FROM:<${from}>`);
    match(await reply(), /^250/);
    for (const t of to) {
      await c.send(`RCPT TO:<${t}>`);
      match(await reply(), /^250/);
    }
    await c.send("DATA");
    match(await reply(), /^354/);
    await c.write(`${body}\r\n.\r\n`);
    const done = await reply();
    await c.send("QUIT");
    return done;
  } finally {
    c.close();
  }
}

async function admin(port: number, command: string): Promise<string[]> {
  const c = await LineClient.connect(port);
  try {
    const status = (l: string) => l.startsWith("+OK") || l.startsWith("-ERR");
    await c.readUntil(status);
    await c.send(`LOGIN ${ADMIN_PASSWORD}`);
    await c.readUntil(status);
    await c.send(command);
    return await c.readUntil(status);
  } finally {
    c.close();
  }
}

Deno.test("queue e2e: SMTP relay -> MX, a 5xx -> DSN back to the sender, admin views", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({
    rcpt: (to) => (to === "nobody@remote.test" ? "550 5.1.1 no such user here" : undefined),
  });
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  dns.add("origin.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  const srv = await startTestServer({
    config: { DNSServer: [dns.server], OutboundPort: sink.port, QueueRetry: [1] },
  });
  try {
    const body = "Subject: e2e\r\nMessage-ID: <e2e-1@origin.test>\r\n\r\n..dot line\r\nend"; // stuffed on the wire
    const done = await smtpSend(srv.ports.smtp, "alice@origin.test", ["bob@remote.test"], body);
    const id = /queued as (\S+)/.exec(done)![1];
    const [msg] = await sink.waitFor(1);
    equal(msg.from, "alice@origin.test");
    equal(msg.to.join(), "bob@remote.test");
    match(msg.text, /\r\n\.dot line\r\nend\r\n$/);
    match(msg.text, new RegExp(`Received: .*\\r?\\n?.*${id}`, "s"));
    equal(msg.helo, "mail.test.example");

    await smtpSend(
      srv.ports.smtp,
      "alice@origin.test",
      ["nobody@remote.test"],
      "Subject: lost\r\n\r\nx",
    );
    const [, dsnMail] = await sink.waitFor(2);
    equal(dsnMail.from, "", "the DSN comes from <>");
    equal(dsnMail.to.join(), "alice@origin.test");
    const dsn = parseDsn(
      new TextEncoder().encode(dsnMail.text.replace(/^Received:[^]*?\r\n(?=\S)/, "")),
    );
    equal(dsn.recipients[0].get("final-recipient"), "rfc822; nobody@remote.test");
    equal(dsn.recipients[0].get("status"), "5.1.1");
    equal(dsn.recipients[0].get("diagnostic-code"), "smtp; 550 5.1.1 no such user here");

    const cache = await admin(srv.ports.admin, "DNS CACHE SHOW DOMAIN=remote.test");
    ok(cache.some((l) => l.includes("mx.remote.test")), cache.join("\n"));
    match(cache.at(-1)!, /^\+OK/);
    const queue = await admin(srv.ports.admin, "QUEUE SHOW ALL");
    match(queue.at(-1)!, /^\+OK/);
  } finally {
    await srv.stop();
    await sink.close();
    dns.close();
    await Deno.remove(srv.dirBase, { recursive: true }).catch(() => {});
  }
});
