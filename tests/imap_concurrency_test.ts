/**
 * Several sessions on one mailbox plus deliveries (RFC 3501 §7, RFC 2177 IDLE): each
 * session keeps its own numbering; EXISTS/EXPUNGE/FETCH reach the others only when
 * allowed; IDLE announces a delivery at once (SMTP in-process, and another process
 * writing into the Maildir by polling).
 */
import { equal, match, ok } from "node:assert/strict";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { LineClient } from "./helpers/client.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";

async function smtpSend(port: number, to: string, subject: string): Promise<void> {
  const c = await LineClient.connect(port);
  try {
    const expect = async (code: string) => {
      for (;;) {
        const line = await c.readLine();
        if (line === null) throw new Error("SMTP closed");
        if (!line.startsWith(code)) throw new Error(`SMTP: expected ${code}, got ${line}`);
        if (line[3] === " ") return;
      }
    };
    await expect("220");
    await c.send("EHLO test.example");
    await expect("250");
    await c.send("MAIL FROM:<alice@example.org>");
    await expect("250");
    await c.send(`RCPT TO:<${to}>`);
    await expect("250");
    await c.send("DATA");
    await expect("354");
    await c.write(message({ subject }));
    await c.send(".");
    await expect("250");
    await c.send("QUIT");
  } finally {
    c.close();
  }
}

Deno.test("imap: two sessions and deliveries keep consistent views", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 0; i < 4; i++) await seed.store.deliver([{ root }], message({ subject: `m${i}` }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const phone = await ImapClient.connect(srv.ports.imap);
    const laptop = await ImapClient.connect(srv.ports.imap);
    await phone.login(USER, PASS);
    await laptop.login(USER, PASS);
    let r = await phone.cmd("SELECT INBOX");
    ok(r.lines.includes("* 4 RECENT"));
    r = await laptop.cmd("SELECT INBOX");
    ok(r.lines.includes("* 0 RECENT"), "\\Recent goes to one session only");
    // The laptop flags and expunges; the phone learns at the allowed moments.
    await laptop.cmd("STORE 1 +FLAGS (\\Seen)");
    await laptop.cmd("STORE 2 +FLAGS (\\Deleted)");
    r = await laptop.cmd("EXPUNGE");
    ok(r.lines.includes("* 2 EXPUNGE"));
    // FETCH by sequence number: FETCH updates allowed, EXPUNGE not (§7.4.1).
    r = await phone.cmd("FETCH 1:4 (FLAGS)");
    ok(!r.lines.some((l) => l.includes("EXPUNGE")), r.lines.join("\n"));
    ok(r.lines.some((l) => l.startsWith("* 1 FETCH") && l.includes("\\Seen")));
    // NOOP may expunge; numbering follows.
    r = await phone.cmd("NOOP");
    ok(r.lines.includes("* 2 EXPUNGE"), r.lines.join("\n"));
    r = await phone.cmd("FETCH 2 (UID)");
    match(r.lines[0], /^\* 2 FETCH \(UID 3\)/);
    // A delivery by SMTP shows up as EXISTS in both.
    await smtpSend(srv.ports.smtp, USER, "over smtp");
    r = await phone.cmd("NOOP");
    ok(r.lines.includes("* 4 EXISTS"), r.lines.join("\n"));
    // New mail is announced after the command that noticed it, then fetchable.
    r = await laptop.cmd("UID FETCH 1:* (UID)");
    ok(r.lines.includes("* 4 EXISTS"), r.lines.join("\n"));
    r = await laptop.cmd("UID FETCH 1:* (UID)");
    equal(r.lines.filter((l) => l.includes("FETCH")).length, 4);
    phone.close();
    laptop.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: IDLE announces deliveries and flag changes at once", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  await seed.store.deliver([{ root }], message({ subject: "first" }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const idler = await ImapClient.connect(srv.ports.imap);
    const other = await ImapClient.connect(srv.ports.imap);
    await idler.login(USER, PASS);
    await other.login(USER, PASS);
    await idler.cmd("SELECT INBOX");
    await other.cmd("SELECT INBOX");
    await idler.line.send("i1 IDLE");
    match(await idler.line.readLine() ?? "", /^\+ /);
    // SMTP delivery: announced without polling delay.
    await smtpSend(srv.ports.smtp, USER, "second");
    // The delivery is on disk once SMTP said 250; IDLE must not wait for its 3 s poll.
    const t0 = Date.now();
    equal(await idler.line.readLine(5000), "* 2 EXISTS");
    ok(Date.now() - t0 < 1000, `EXISTS came after ${Date.now() - t0} ms`);
    match(await idler.line.readLine(2500) ?? "", /^\* 2 RECENT/);
    // APPEND and a flag change by another session.
    await other.cmd("APPEND INBOX {12+}\r\nSubject: x\r\n");
    equal(await idler.line.readLine(2500), "* 3 EXISTS");
    await idler.line.readLine(2500); // RECENT
    await other.cmd("STORE 1 +FLAGS (\\Flagged)");
    match(await idler.line.readLine(2500) ?? "", /^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged/);
    // Expunge by another session is reported during IDLE.
    await other.cmd("STORE 3 +FLAGS (\\Deleted)");
    await idler.line.readLine(2500);
    await other.cmd("EXPUNGE");
    equal(await idler.line.readLine(2500), "* 3 EXPUNGE");
    // Another process writing into the Maildir: found by polling within seconds.
    await seed.store.deliver([{ root }], message({ subject: "external" }));
    equal(await idler.line.readLine(5000), "* 3 EXISTS");
    await idler.line.send("DONE");
    const rest = await idler.line.readUntil((l) => l.startsWith("i1 "));
    match(rest[rest.length - 1], /^i1 OK/);
    // Anything but DONE ends IDLE with BAD.
    await idler.line.send("i2 IDLE");
    await idler.line.readLine();
    await idler.line.send("NOPE");
    match(await idler.line.readLine() ?? "", /^i2 BAD/);
    equal((await idler.cmd("NOOP")).status, "OK");
    idler.close();
    other.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
