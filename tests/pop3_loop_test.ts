/**
 * POP3 sessions on the second event loop (src/pop3/loop.ts, ThreadsPOP3 = 2): the first
 * session past login moves there, the next stays on the main loop; both answer alike,
 * and what the loop's sessions change (QUIT's UPDATE, \Seen, the lock) is done by the
 * main thread. The other POP3 tests exercise the loop too: a server's first login goes
 * there.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type SeedUser, seedUsers } from "../bench/pop3.ts";
import { LineClient } from "./helpers/client.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./helpers/server.ts";

const enc = new TextEncoder();
const MOVED = /the session goes on in the POP3 second event loop/g;
const MESSAGES = [
  "Subject: one\r\n\r\n.dot line\r\nfirst\r\n",
  "Subject: two\r\n\r\nsecond\r\n",
  "Subject: three\r\n\r\nthird\r\n",
];
const user = (name: string): SeedUser => ({
  name,
  domain: "ex.test",
  password: "pw",
  messages: MESSAGES.map((m) => enc.encode(m)),
});

async function withServer(
  opts: TestServerOptions,
  fn: (srv: TestServer, dirBase: string) => Promise<void>,
): Promise<void> {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-pop3loop-" });
  await seedUsers(join(dirBase, "data"), [user("joe"), user("ann")]);
  const srv = await startTestServer({ ...opts, dirBase });
  try {
    await fn(srv, dirBase);
  } finally {
    await srv.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
}

async function login(srv: TestServer, name: string): Promise<LineClient> {
  const c = await LineClient.connect(srv.ports.pop3);
  match((await c.readLine())!, /^\+OK /);
  await c.send(`USER ${name}@ex.test`);
  match((await c.readLine())!, /^\+OK/);
  await c.send("PASS pw");
  match((await c.readLine())!, new RegExp(`^\\+OK ${name}@ex.test has 3 messages`));
  return c;
}

async function command(c: LineClient, line: string): Promise<string> {
  await c.send(line);
  return (await c.readLine())!;
}

/** A multi-line reply's data lines (status checked, "." removed). */
async function multiline(c: LineClient, line: string): Promise<string[]> {
  await c.send(line);
  match((await c.readLine())!, /^\+OK/);
  const lines = await c.readUntil((l) => l === ".");
  lines.pop();
  return lines;
}

/** The files of a user's INBOX (new/ and cur/), sorted. */
async function files(dirBase: string, name: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (/\/(new|cur)$/.test(dir) && dir.includes(`/${name}/`)) found.push(e.name);
    }
  };
  await walk(join(dirBase, "data", "domains"));
  return found.sort();
}

const moved = (srv: TestServer) => srv.logs().match(MOVED)?.length ?? 0;

/** Retrieves, deletes and quits; returns what RETR 1 sent and the QUIT reply. */
async function readDeleteQuit(c: LineClient): Promise<{ body: string[]; quit: string }> {
  const body = await multiline(c, "RETR 1");
  equal((await multiline(c, "UIDL")).length, 3);
  equal(await command(c, "DELE 2"), "+OK message 2 deleted");
  equal(await command(c, "STAT"), "+OK 2 " + (MESSAGES[0].length + MESSAGES[2].length));
  return { body, quit: await command(c, "QUIT") };
}

Deno.test("loop: the first session moves, the second stays; both answer and update alike", async () => {
  await withServer({}, async (srv, dirBase) => {
    const joe = await login(srv, "joe");
    await srv.waitForLog(MOVED);
    const ann = await login(srv, "ann");
    equal(moved(srv), 1, "the loop held one session, so the second stays on the main loop");
    const [a, b] = await Promise.all([readDeleteQuit(joe), readDeleteQuit(ann)]);
    // RFC 1939 §3: the line starting with "." is dot-stuffed on either loop.
    deepStrictEqual(a.body, ["Subject: one", "", "..dot line", "first"]);
    deepStrictEqual(b.body, a.body);
    equal(a.quit, "+OK eXtremail POP3 server signing off (1 deleted, 2 left)");
    equal(b.quit, a.quit);
    ok(await joe.closedByPeer());
    ok(await ann.closedByPeer());
    joe.close();
    ann.close();
    // The loop's log lines are written by the main thread, with the session's id.
    const sid = /\[(\S+)\] the session goes on in the POP3 second event loop/.exec(srv.logs())![1];
    await srv.waitForLog(new RegExp(`\\[${sid}\\] joe@ex.test: 1 deleted`));
    await srv.waitForLog(/ann@ex.test: 1 deleted/);
    for (const name of ["joe", "ann"]) {
      const left = await files(dirBase, name);
      equal(left.length, 2, `${name}: message 2 removed by the UPDATE`);
      // The retrieved message is \Seen for IMAP (Maildir flag S), the other one not.
      equal(left.filter((f) => /:2,S$/.test(f)).length, 1, `${name}: ${left}`);
    }
  });
});

Deno.test("loop: a session dropped without QUIT deletes nothing, keeps \\Seen, frees the lock", async () => {
  await withServer({}, async (srv, dirBase) => {
    const c = await login(srv, "joe");
    await srv.waitForLog(MOVED);
    await multiline(c, "RETR 3");
    equal(await command(c, "DELE 1"), "+OK message 1 deleted");
    c.close();
    // The lock is released once the main thread heard of the end: a new login gets in.
    let again: LineClient | null = null;
    for (let i = 0; i < 50 && !again; i++) {
      try {
        again = await login(srv, "joe");
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    ok(again, "logged in again after the dropped session");
    match(await command(again!, "QUIT"), /^\+OK .*\(0 deleted, 3 left\)/);
    again!.close();
    const left = await files(dirBase, "joe");
    equal(left.length, 3);
    equal(left.filter((f) => /:2,S$/.test(f)).length, 1, `${left}`);
  });
});

Deno.test("loop: the idle timeout ends a session on the loop (TimeoutPOP3)", async () => {
  await withServer({ config: { TimeoutPOP3: 1 } }, async (srv) => {
    const c = await login(srv, "joe");
    try {
      await srv.waitForLog(MOVED);
      match((await c.readLine(5000))!, /^-ERR autologout: idle for 1 seconds/);
      ok(await c.closedByPeer());
      // The main thread heard the end: its session closed and logged so.
      await srv.waitForLog(/session closed/);
    } finally {
      c.close();
    }
  });
});

Deno.test("loop: a pipelined command after PASS keeps the session on the main loop", async () => {
  await withServer({}, async (srv) => {
    const c = await LineClient.connect(srv.ports.pop3);
    try {
      match((await c.readLine())!, /^\+OK /);
      await c.send("USER joe@ex.test\r\nPASS pw\r\nSTAT");
      match((await c.readLine())!, /^\+OK/);
      match((await c.readLine())!, /^\+OK joe@ex.test has 3 messages/);
      match((await c.readLine())!, /^\+OK 3 /);
      equal(moved(srv), 0);
      match(await command(c, "QUIT"), /^\+OK/);
    } finally {
      c.close();
    }
  });
});

Deno.test("loop: ThreadsPOP3 = 1 keeps every session on the main loop", async () => {
  await withServer({ config: { ThreadsPOP3: 1 } }, async (srv) => {
    const c = await login(srv, "joe");
    try {
      deepStrictEqual(await multiline(c, "RETR 2"), ["Subject: two", "", "second"]);
      match(await command(c, "QUIT"), /^\+OK/);
      equal(moved(srv), 0);
    } finally {
      c.close();
    }
  });
});
