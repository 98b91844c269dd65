/**
 * POP3 on raw sockets: pipelining, STLS then AUTH PLAIN, PlainAuthWithoutTLS, implicit
 * TLS, byte-exact dot-stuffing on the wire, bad input, a dropped session, the idle
 * timeout and the shutdown goodbye.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type SeedUser, seedUsers } from "../bench/pop3.ts";
import { LineClient } from "./helpers/client.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./helpers/server.ts";

const enc = new TextEncoder();
const DOTS = "Subject: dots\r\n\r\n.one\r\n.\r\n..\r\nx\r\n";
const JOE: SeedUser = {
  name: "joe",
  domain: "ex.test",
  password: "pw 1",
  messages: [DOTS, "Subject: two\r\n\r\nsecond\r\n", "Subject: three\r\n\r\nthird\r\n"].map((m) =>
    enc.encode(m)
  ),
};
const PLAIN = btoa("\0joe@ex.test\0pw 1");

async function withServer(
  opts: TestServerOptions,
  fn: (srv: TestServer) => Promise<void>,
): Promise<void> {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-pop3raw-" });
  await seedUsers(join(dirBase, "data"), [JOE]);
  const srv = await startTestServer({ ...opts, dirBase });
  try {
    await fn(srv);
  } finally {
    await srv.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
}

/** Connects and reads the greeting. */
async function connect(srv: TestServer, tls = false): Promise<LineClient> {
  const c = await LineClient.connect(tls ? srv.ports.pop3s : srv.ports.pop3, { tls });
  match((await c.readLine())!, /^\+OK /);
  return c;
}

async function command(c: LineClient, line: string): Promise<string> {
  await c.send(line);
  return (await c.readLine())!;
}

/** A multi-line reply: status line plus data lines, without the final ".". */
async function multiline(c: LineClient, line: string): Promise<string[]> {
  await c.send(line);
  const lines = await c.readUntil((l) => l === "." || l.startsWith("-ERR"));
  if (lines.at(-1) === ".") lines.pop();
  return lines;
}

Deno.test("raw: pipelined commands are answered in order", async () => {
  await withServer({}, async (srv) => {
    const c = await connect(srv);
    try {
      await c.write(
        "CAPA\r\nUSER joe@ex.test\r\nPASS pw 1\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\nBOGUS\r\n" +
          "UIDL 1\r\nNOOP\r\nQUIT\r\n",
      );
      const capa = await c.readUntil((l) => l === ".");
      equal(capa[0].slice(0, 3), "+OK");
      ok(capa.includes("PIPELINING"));
      match((await c.readLine())!, /^\+OK/); // USER
      match((await c.readLine())!, /^\+OK joe@ex.test has 3 messages/); // PASS
      match((await c.readLine())!, /^\+OK 3 \d+$/); // STAT
      const list = await c.readUntil((l) => l === ".");
      deepStrictEqual(list.slice(1, -1).map((l) => l.split(" ")[0]), ["1", "2", "3"]);
      deepStrictEqual(await c.readUntil((l) => l === "."), [
        `+OK ${JOE.messages[1].length} octets`,
        "Subject: two",
        "",
        "second",
        ".",
      ]);
      match((await c.readLine())!, /^\+OK message 1 deleted/);
      match((await c.readLine())!, /^-ERR unknown command BOGUS/);
      match((await c.readLine())!, /^-ERR message 1 is marked deleted/);
      equal(await c.readLine(), "+OK");
      match((await c.readLine())!, /^\+OK .*1 deleted, 2 left/);
      ok(await c.closedByPeer());
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: RETR is byte-exact on the wire (dot-stuffed, terminated)", async () => {
  await withServer({}, async (srv) => {
    const c = await connect(srv);
    try {
      await command(c, "USER joe@ex.test");
      await command(c, "PASS pw 1");
      await c.send("RETR 1");
      const status = (await c.readLine())!;
      equal(status, `+OK ${DOTS.length} octets`);
      const expected = "Subject: dots\r\n\r\n..one\r\n..\r\n...\r\nx\r\n.\r\n";
      equal(new TextDecoder().decode(await c.readBytes(expected.length)), expected);
      await c.send("TOP 1 1");
      deepStrictEqual(await c.readUntil((l) => l === "."), [
        "+OK top of message follows",
        "Subject: dots",
        "",
        "..one",
        ".",
      ]);
    } finally {
      c.close();
    }
  });
});

/** The directory of `user`'s INBOX (the Maildir root) under the DirBase. */
async function maildirOf(dirBase: string, user: string): Promise<string> {
  const walk = async (dir: string): Promise<string | null> => {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory) continue;
      if (e.name === user) return join(dir, e.name);
      const found = await walk(join(dir, e.name));
      if (found) return found;
    }
    return null;
  };
  const root = await walk(join(dirBase, "data", "domains"));
  if (!root) throw new Error(`no Maildir for ${user}`);
  return root;
}

Deno.test("raw: RETR of files the fast path cannot take: bare LFs, wrong S=, renamed", async () => {
  await withServer({}, async (srv) => {
    const root = await maildirOf(srv.dirBase, "joe");
    // Written by other Maildir software: bare LFs and no final newline.
    const bareLf = "Subject: lf\n\nline\n.dot\nend";
    await Deno.writeTextFile(join(root, "cur", "1700000000.M1P1Q1.other:2,"), bareLf);
    // A name whose S= does not match the content: the real length is what is sent.
    const wrongSize = "Subject: size\r\n\r\nbody\r\n";
    await Deno.writeTextFile(join(root, "cur", "1700000001.M1P1Q2.other,S=5:2,"), wrongSize);
    const c = await connect(srv);
    try {
      await command(c, "USER joe@ex.test");
      match(await command(c, "PASS pw 1"), /^\+OK joe@ex.test has 5 messages/);
      const uidl = new Map(
        (await multiline(c, "UIDL")).slice(1).map((l) =>
          l.split(" ").reverse() as [string, string]
        ),
      );
      // "Subject: two" gets a flag meanwhile, as an IMAP client would do it.
      let renamed: string | undefined;
      for (const sub of ["new", "cur"]) {
        for await (const e of Deno.readDir(join(root, sub))) {
          const path = join(root, sub, e.name);
          if ((await Deno.readTextFile(path)).startsWith("Subject: two")) {
            renamed = e.name.split(":")[0];
            await Deno.rename(path, join(root, "cur", `${renamed}:2,F`));
          }
        }
      }
      const retr = async (n: string | undefined, wire: string, octets: number) => {
        ok(n, "listed by UIDL");
        await c.send(`RETR ${n}`);
        equal(await c.readLine(), `+OK ${octets} octets`);
        equal(new TextDecoder().decode(await c.readBytes(wire.length)), wire);
      };
      await retr(
        uidl.get("1700000000.M1P1Q1.other"),
        "Subject: lf\r\n\r\nline\r\n..dot\r\nend\r\n.\r\n",
        bareLf.length,
      );
      await retr(uidl.get("1700000001.M1P1Q2.other,S=5"), wrongSize + ".\r\n", wrongSize.length);
      const second = "Subject: two\r\n\r\nsecond\r\n";
      await retr(uidl.get(renamed!), second + ".\r\n", second.length);
      await retr(uidl.get(renamed!), second + ".\r\n", second.length); // again, new name known
      match(await command(c, "QUIT"), /^\+OK/);
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: STLS, then AUTH PLAIN; cleartext refused before TLS", async () => {
  const config = { PlainAuthWithoutTLS: "never" as const };
  await withServer({ tls: true, config }, async (srv) => {
    const c = await connect(srv);
    try {
      const before = await multiline(c, "CAPA");
      ok(before.includes("STLS") && !before.includes("USER") && !before.includes("SASL PLAIN"));
      match(await command(c, "USER joe@ex.test"), /^-ERR \[AUTH\] .*STLS/);
      match(await command(c, `AUTH PLAIN ${PLAIN}`), /^-ERR \[AUTH\]/);
      match(await command(c, "STAT"), /^-ERR /);
      // Commands pipelined behind STLS must not survive into TLS (RFC 2595 §4 / CVE-2011-0411).
      await c.write("STLS\r\nNOOP\r\n");
      match((await c.readLine())!, /^\+OK/);
      await c.startTls();
      const after = await multiline(c, "CAPA");
      ok(after.includes("USER") && after.includes("SASL PLAIN") && !after.includes("STLS"));
      match(await command(c, "STLS"), /^-ERR /);
      equal(await command(c, "AUTH PLAIN"), "+ ");
      match(await command(c, "*"), /^-ERR .*cancel/);
      equal(await command(c, "AUTH PLAIN"), "+ ");
      match(await command(c, PLAIN), /^\+OK joe@ex.test has 3 messages/);
      match(await command(c, "STAT"), /^\+OK 3 /);
      match(await command(c, "QUIT"), /^\+OK/);
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: implicit TLS port; AUTH PLAIN with initial response; bare AUTH lists PLAIN", async () => {
  await withServer({ tls: true, config: { PlainAuthWithoutTLS: "never" } }, async (srv) => {
    const c = await connect(srv, true);
    try {
      const caps = await multiline(c, "CAPA");
      ok(!caps.includes("STLS") && caps.includes("SASL PLAIN"));
      deepStrictEqual((await multiline(c, "AUTH")).slice(1), ["PLAIN"]);
      match(await command(c, "AUTH LOGIN"), /^-ERR unsupported SASL mechanism/);
      match(await command(c, "AUTH PLAIN !!!"), /^-ERR invalid base64/);
      match(await command(c, `AUTH PLAIN ${PLAIN}`), /^\+OK/);
      match(await command(c, "AUTH PLAIN x"), /^-ERR AUTH is not valid after login/);
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: bad input gets -ERR and the session goes on", async () => {
  await withServer({}, async (srv) => {
    const c = await connect(srv);
    try {
      match(await command(c, "RETR 1"), /^-ERR RETR is only valid after login/);
      match(await command(c, "PASS pw 1"), /^-ERR send USER first/);
      match(
        await command(c, "APOP joe@ex.test c4c9334bac560ecc979e58001b3e22fb"),
        /^-ERR APOP is not supported/,
      );
      match(await command(c, ""), /^-ERR empty command/);
      match(await command(c, "X".repeat(5000)), /^-ERR command line too long/);
      await c.write(new Uint8Array([0xff, 0x00, 0xfe, 13, 10]));
      match((await c.readLine())!, /^-ERR unknown command/);
      await command(c, "USER joe@ex.test");
      match(await command(c, "PASS pw 1"), /^\+OK/);
      for (
        const bad of [
          "RETR",
          "RETR x",
          "RETR 0",
          "RETR 4",
          "RETR -1",
          "DELE 1 2",
          "TOP 1",
          "TOP 1 -2",
          "LIST 9",
        ]
      ) {
        match(await command(c, bad), /^-ERR /, bad);
      }
      match(await command(c, "USER joe@ex.test"), /^-ERR USER is not valid after login/);
      match(await command(c, "STLS"), /^-ERR /);
      match(await command(c, "noop"), /^\+OK/, "keywords are case-insensitive");
      match(await command(c, "QUIT"), /^\+OK/);
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: a session dropped after DELE deletes nothing", async () => {
  await withServer({}, async (srv) => {
    const c = await connect(srv);
    await command(c, "USER joe@ex.test");
    await command(c, "PASS pw 1");
    match(await command(c, "DELE 1"), /^\+OK/);
    match(await command(c, "DELE 2"), /^\+OK/);
    c.close();
    // The server notices the close and releases the maildrop lock.
    let reply = "";
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = await connect(srv);
      await command(d, "USER joe@ex.test");
      reply = await command(d, "PASS pw 1");
      d.close();
      if (!reply.includes("[IN-USE]")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    match(reply, /^\+OK joe@ex.test has 3 messages/);
  });
});

Deno.test("raw: idle timeout closes the session (TimeoutPOP3)", async () => {
  await withServer({ config: { TimeoutPOP3: 1 } }, async (srv) => {
    const c = await connect(srv);
    try {
      const started = Date.now();
      match((await c.readLine(5000))!, /^-ERR .*idle/);
      ok(await c.closedByPeer());
      ok(Date.now() - started >= 900);
    } finally {
      c.close();
    }
  });
});

Deno.test("raw: graceful shutdown says -ERR [SYS/TEMP] to open sessions", async () => {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-pop3raw-" });
  await seedUsers(join(dirBase, "data"), [JOE]);
  const srv = await startTestServer({ dirBase });
  try {
    const c = await connect(srv);
    await command(c, "USER joe@ex.test");
    await command(c, "PASS pw 1");
    await command(c, "DELE 1");
    const stopped = srv.stop();
    equal(await c.readLine(), "-ERR [SYS/TEMP] server shutting down");
    ok(await c.closedByPeer());
    c.close();
    await stopped;
    await srv.restart();
    const d = await connect(srv);
    await command(d, "USER joe@ex.test");
    match(await command(d, "PASS pw 1"), /has 3 messages/, "no UPDATE without QUIT");
    d.close();
  } finally {
    await srv.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
});

Deno.test("raw: a message expunged over IMAP during a session is reported as gone", async () => {
  await withServer({}, async (srv) => {
    const c = await connect(srv);
    await command(c, "USER joe@ex.test");
    await command(c, "PASS pw 1");
    const uidls = await multiline(c, "UIDL");
    equal(uidls.length, 4);
    // Another client expunges message 2 (the snapshot's numbers stay as they were).
    const imap = await LineClient.connect(srv.ports.imap);
    await imap.readLine();
    const tagged = async (tag: string, line: string) => {
      await imap.send(`${tag} ${line}`);
      const lines = await imap.readUntil((l) => l.startsWith(`${tag} `));
      match(lines.at(-1)!, new RegExp(`^${tag} OK`));
    };
    await tagged("a", `LOGIN joe@ex.test "pw 1"`);
    await tagged("b", "SELECT INBOX");
    await tagged("c", "STORE 2 +FLAGS (\\Deleted)");
    await tagged("d", "EXPUNGE");
    imap.close();
    match(await command(c, "STAT"), /^\+OK 3 /);
    // LIST keeps the size listed at login; UIDL and RETR say the message is gone.
    equal(await command(c, "LIST 2"), `+OK 2 ${JOE.messages[1].length}`);
    deepStrictEqual(await multiline(c, "UIDL"), [uidls[0], uidls[1], uidls[3]]);
    match(await command(c, "UIDL 2"), /^-ERR message 2 was removed by another client/);
    match(await command(c, "RETR 2"), /^-ERR message 2 was removed by another client/);
    match(await command(c, "TOP 2 0"), /^-ERR message 2 was removed by another client/);
    equal(await command(c, "UIDL 3"), `+OK ${uidls[3]}`);
    deepStrictEqual(await multiline(c, "RETR 3"), [
      `+OK ${JOE.messages[2].length} octets`,
      "Subject: three",
      "",
      "third",
    ]);
    match(await command(c, "DELE 2"), /^\+OK/);
    match(await command(c, "QUIT"), /^\+OK .*\(1 deleted, 2 left\)/);
    c.close();
  });
});
