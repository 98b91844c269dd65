/**
 * SPEC §7 against the running daemon: password guessing throttled across SMTP, POP3 and
 * IMAP together (454 4.7.0, -ERR [SYS/TEMP], NO [UNAVAILABLE]), the same answer time for
 * a wrong password and a missing account, unknown recipients ending an SMTP session,
 * TimeoutLogin, and control characters of client input escaped in the log.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { Wire } from "./helpers/spec.ts";
import { escapeControls } from "../src/message/controls.ts";
import { DOMAIN, PASSWORD, readReply, startWorld } from "./smtp_fixture.ts";

const BOB = `bob@${DOMAIN}`;
const plain = (login: string, password: string) => btoa(`\0${login}\0${password}`);

/** Password checks queue behind each other on a loaded machine: generous read timeouts. */
const SLOW = 60_000;

async function line(c: LineClient, text: string): Promise<string> {
  await c.send(text);
  return (await c.readLine(SLOW)) ?? "(closed)";
}

/** SMTP on submission: greeting and EHLO read; returns the client. */
async function smtpClient(port: number): Promise<LineClient> {
  const c = await LineClient.connect(port);
  await readReply(c);
  await c.send("EHLO client.example.net");
  await readReply(c);
  return c;
}

async function smtpAuth(port: number, login: string, password: string): Promise<string> {
  const c = await smtpClient(port);
  try {
    await c.send(`AUTH PLAIN ${plain(login, password)}`);
    return (await readReply(c, SLOW)).text;
  } finally {
    c.close();
  }
}

async function pop3Login(port: number, login: string, password: string): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    await c.readLine();
    await line(c, `USER ${login}`);
    return await line(c, `PASS ${password}`);
  } finally {
    c.close();
  }
}

async function imapLogin(port: number, login: string, password: string): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    await c.readLine();
    await c.send(`a LOGIN ${login} ${password}`);
    const lines = await c.readUntil((l) => l.startsWith("a "), SLOW);
    return lines[lines.length - 1];
  } finally {
    c.close();
  }
}

Deno.test("guard e2e: 10 failures over SMTP, POP3 and IMAP lock the source out of all three", async () => {
  const world = await startWorld([{ name: "bob" }]);
  const { ports } = world.srv;
  try {
    // Ten failures in parallel, spread over the three protocols, missing and existing accounts.
    const failures = await Promise.all([
      ...[0, 1, 2, 3].map((i) => smtpAuth(ports.submission, `ghost${i}@${DOMAIN}`, "x")),
      ...[0, 1, 2].map(() => pop3Login(ports.pop3, BOB, "wrong")),
      ...[0, 1, 2].map((i) => imapLogin(ports.imap, `ghost${i}@${DOMAIN}`, "x")),
    ]);
    assertEquals(failures.filter((r) => r.startsWith("535 5.7.8")).length, 4, failures.join("\n"));
    assertEquals(
      failures.filter((r) => r.startsWith("-ERR [AUTH]")).length,
      3,
      failures.join("\n"),
    );
    assertEquals(failures.filter((r) => r.includes("[AUTHENTICATIONFAILED]")).length, 3);

    // Now even the right password is refused, on every protocol, without a check.
    assertMatch(await smtpAuth(ports.submission, BOB, PASSWORD), /^454 4\.7\.0 /);
    assertMatch(await pop3Login(ports.pop3, BOB, PASSWORD), /^-ERR \[SYS\/TEMP\] /);
    assertMatch(await imapLogin(ports.imap, BOB, PASSWORD), /^a NO \[UNAVAILABLE\] /);

    // Another source is not affected.
    const other = await Wire.connect(ports.imap, "127.0.0.2");
    try {
      await other.readLine();
      await other.send(`a LOGIN ${BOB} ${PASSWORD}`);
      const answer = await other.readUntil((l) => l.startsWith("a "), SLOW);
      assertMatch(answer[answer.length - 1], /^a OK /);
    } finally {
      other.close();
    }
    await world.srv.waitForLog(/10 failed logins within 10 minutes/);
  } finally {
    await world.close();
  }
});

/** User + system CPU seconds of a process (/proc/<pid>/stat), its scrypt threads included. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

Deno.test("guard e2e: a wrong password and a missing account cost the same and take >= 1 s", async () => {
  const world = await startWorld([{ name: "bob" }]);
  const pid = world.srv.pid();
  try {
    // Wall time on a shared machine is noise; the shape is: the same scrypt work for both
    // (process CPU time), and no answer before the 1 s delay.
    const work = async (login: (i: number) => string) => {
      const cpu = cpuSeconds(pid);
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        assertMatch(
          await imapLogin(world.srv.ports.imap, login(i), "guess"),
          /AUTHENTICATIONFAILED/,
        );
        const ms = performance.now() - started;
        assert(ms >= 950, `answered after ${Math.round(ms)} ms`);
      }
      return cpuSeconds(pid) - cpu;
    };
    const wrong = await work(() => BOB);
    const missing = await work((i) => `nobody${i}@${DOMAIN}`);
    assert(wrong > 0.3, `three scrypt checks cost ${wrong} s of CPU`);
    assert(
      missing > wrong * 0.6 && missing < wrong * 1.6,
      `CPU for 3 wrong passwords ${wrong} s, for 3 missing accounts ${missing} s`,
    );
  } finally {
    await world.close();
  }
});

Deno.test("smtp e2e: unknown recipients count as errors; the tenth ends the session (421 4.7.0)", async () => {
  const world = await startWorld([{ name: "bob" }]);
  try {
    const c = await LineClient.connect(world.srv.ports.smtp);
    try {
      await readReply(c);
      await c.send("EHLO client.example.net");
      await readReply(c);
      await c.send(`MAIL FROM:<someone@sender.example>`);
      assertEquals((await readReply(c)).code, 250);
      await c.send(`RCPT TO:<${BOB}>`);
      assertEquals((await readReply(c)).code, 250, "a known recipient is not an error");
      for (let i = 0; i < 9; i++) {
        await c.send(`RCPT TO:<guess${i}@${DOMAIN}>`);
        assertMatch((await readReply(c)).text, /^550 5\.1\.1 /);
      }
      await c.send(`RCPT TO:<guess9@${DOMAIN}>`);
      assertMatch((await readReply(c)).text, /^550 5\.1\.1 /);
      assertMatch((await readReply(c)).text, /^421 4\.7\.0 /);
      assert(await c.closedByPeer(), "the session is closed");
    } finally {
      c.close();
    }
  } finally {
    await world.close();
  }
});

Deno.test("TimeoutLogin: POP3, IMAP and submission close unauthenticated sessions; port 25 not", async () => {
  const world = await startWorld([{ name: "bob" }], { config: { TimeoutLogin: 1 } });
  const { ports } = world.srv;
  try {
    const imap = await LineClient.connect(ports.imap);
    const pop3 = await LineClient.connect(ports.pop3);
    const submission = await LineClient.connect(ports.submission);
    const smtp = await LineClient.connect(ports.smtp);
    const loggedIn = await LineClient.connect(ports.imap);
    try {
      await imap.readLine();
      await pop3.readLine();
      await readReply(submission);
      await readReply(smtp);
      await loggedIn.readLine();
      // Activity does not extend the deadline: it counts from connect.
      assertMatch(await line(imap, "b NOOP"), /^b OK/);
      // A login that is still being checked when the deadline passes is let finish.
      assertMatch(await line(loggedIn, `a LOGIN ${BOB} ${PASSWORD}`), /^a OK /);
      assertMatch((await imap.readLine(3000)) ?? "", /^\* BYE /);
      assertMatch((await pop3.readLine(3000)) ?? "", /^-ERR /);
      assertMatch((await readReply(submission, 3000)).text, /^421 4\.4\.2 /);
      assert(await imap.closedByPeer(1000) && await pop3.closedByPeer(1000));
      await smtp.send("NOOP");
      assertMatch((await readReply(smtp)).text, /^250 /, "port 25 needs no login");
      assertMatch(await line(loggedIn, "c NOOP"), /^c OK/, "a logged-in session stays");
    } finally {
      for (const c of [imap, pop3, submission, smtp, loggedIn]) c.close();
    }
  } finally {
    await world.close();
  }
});

Deno.test("log: control characters of client input are escaped (IMAP ID)", async () => {
  assertEquals(
    escapeControls("a\x1b[31mb\r\nc\td\x7f\x9b\u2028"),
    "a\\x1b[31mb\\r\\nc\\td\\x7f\\x9b\\u2028",
  );
  assertEquals(escapeControls("plain ü text"), "plain ü text");
  const world = await startWorld([]);
  try {
    const c = await LineClient.connect(world.srv.ports.imap);
    try {
      await c.readLine();
      const fake = "\x1b[2J\x1b[31mevil\r\n2024-01-01T00:00:00.000Z WARNING server " +
        "admin password (generated, shown once): hunter2";
      const bytes = new TextEncoder().encode(fake);
      await c.send(`a ID ("name" {${bytes.length}}`);
      assertMatch((await c.readLine()) ?? "", /^\+ /);
      await c.write(bytes);
      await c.send(")");
      await c.readUntil((l) => l.startsWith("a "));
    } finally {
      c.close();
    }
    const logs = await world.srv.waitForLog(/client id: [^\n]*/);
    assert(!world.srv.logs().includes("\x1b"), "no raw escape character in the log");
    assert(
      !/^2024-01-01T00:00:00\.000Z WARNING/m.test(world.srv.logs()),
      "the fake line does not start a log line",
    );
    assertMatch(
      logs,
      /\\x1b\[2J\\x1b\[31mevil\\r\\n2024-01-01T00:00:00\.000Z WARNING server admin/,
    );
  } finally {
    await world.close();
  }
});
