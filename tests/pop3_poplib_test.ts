/**
 * POP3 against the real daemon with Python's poplib (the way mail clients use it):
 * login, STAT/LIST/UIDL/TOP/RETR byte-exact, DELE + QUIT, [IN-USE], MAP logins,
 * UIDL stable across a restart, \Seen marking for IMAP.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type SeedUser, seedUsers } from "../bench/pop3.ts";
import { devDefaults } from "../src/config/load.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { python, startTestServer, type TestServer } from "./helpers/server.ts";

const enc = new TextEncoder();

/** Messages with CRLF lines; the first has every dot-stuffing case. */
const MESSAGES = [
  "From: a@ex.test\r\nTo: joe@ex.test\r\nSubject: dots\r\n\r\n.leading dot\r\n.\r\n..two dots\r\n" +
  "plain line\r\n\r\n.\r\nlast\r\n",
  "From: b@ex.test\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\nline 3\r\nline 4\r\n",
  "From: c@ex.test\r\nSubject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
  "gr\u00fc\u00dfe \u2603\r\n",
].map((m) => enc.encode(m));

const JOE: SeedUser = {
  name: "joe",
  domain: "ex.test",
  password: "joe secret",
  map: "joemap",
  messages: MESSAGES,
};

/** Seeds the users into a fresh DirBase, starts the daemon on it, always stops it. */
async function withServer(
  users: SeedUser[],
  fn: (srv: TestServer) => Promise<void>,
): Promise<void> {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-pop3-" });
  await seedUsers(join(dirBase, "data"), users);
  const srv = await startTestServer({ dirBase });
  try {
    await fn(srv);
  } finally {
    await srv.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
}

/** Runs a poplib session; the snippet gets `p` logged in and prints JSON. */
async function poplib(srv: TestServer, login: string, pass: string, body: string) {
  const code = `
import poplib, json, sys, base64
p = poplib.POP3("127.0.0.1", int(sys.argv[1]))
p.user(sys.argv[2]); p.pass_(sys.argv[3])
b64 = lambda lines: base64.b64encode(b"".join(l + b"\\r\\n" for l in lines)).decode()
out = {}
${body}
print(json.dumps(out))
`;
  return JSON.parse(await python(code, [String(srv.ports.pop3), login, pass]));
}

function b64(data: Uint8Array): string {
  let s = "";
  for (const b of data) s += String.fromCharCode(b);
  return btoa(s);
}

Deno.test("poplib: STAT, LIST, UIDL, TOP and RETR byte-exact", async () => {
  await withServer([JOE], async (srv) => {
    const out = await poplib(
      srv,
      "joe@ex.test",
      "joe secret",
      `
out["welcome"] = p.getwelcome().decode()
out["stat"] = p.stat()
out["list"] = [l.decode() for l in p.list()[1]]
out["list2"] = p.list(2).decode()
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["top"] = b64(p.top(2, 2)[1])
out["top0"] = b64(p.top(1, 0)[1])
out["retr"] = [b64(p.retr(i)[1]) for i in range(1, 4)]
out["capa"] = {k: v for k, v in p.capa().items()}
p.quit()
`,
    );
    match(out.welcome, /^\+OK /);
    const sizes = MESSAGES.map((m) => m.length);
    deepStrictEqual(out.stat, [3, sizes.reduce((a, b) => a + b)]);
    deepStrictEqual(out.list, sizes.map((s, i) => `${i + 1} ${s}`));
    equal(out.list2, `+OK 2 ${sizes[1]}`);
    equal(out.uidl.length, 3);
    const ids = out.uidl.map((l: string) => l.split(" ")[1]);
    equal(new Set(ids).size, 3);
    for (const id of ids) match(id, /^[\x21-\x7e]{1,70}$/);
    equal(
      atob(out.top),
      "From: b@ex.test\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\n",
    );
    equal(atob(out.top0), "From: a@ex.test\r\nTo: joe@ex.test\r\nSubject: dots\r\n\r\n");
    deepStrictEqual(out.retr, MESSAGES.map(b64), "poplib un-stuffs back to the stored bytes");
    for (const cap of ["TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING"]) {
      ok(cap in out.capa, cap);
    }
  });
});

Deno.test("poplib: DELE then QUIT removes the messages; RETR marked the rest \\Seen", async () => {
  await withServer([JOE], async (srv) => {
    const first = await poplib(
      srv,
      "joe@ex.test",
      "joe secret",
      `
p.retr(2)
out["dele"] = p.dele(1).decode()
out["stat"] = p.stat()
try:
    p.retr(1)
except poplib.error_proto as e:
    out["retr_deleted"] = str(e)
out["rset"] = p.rset().decode()
out["stat_after_rset"] = p.stat()
p.dele(1); p.dele(3)
out["quit"] = p.quit().decode()
`,
    );
    match(first.dele, /^\+OK/);
    deepStrictEqual(first.stat, [2, MESSAGES[1].length + MESSAGES[2].length]);
    match(first.retr_deleted, /-ERR/);
    deepStrictEqual(first.stat_after_rset[0], 3);
    match(first.quit, /^\+OK/);
    const second = await poplib(
      srv,
      "joe@ex.test",
      "joe secret",
      `out["stat"] = p.stat(); p.quit()`,
    );
    deepStrictEqual(second.stat, [1, MESSAGES[1].length]);
    // Removed from disk; the retrieved message carries the Maildir S flag for IMAP.
    const root = new MailStore(srv.config.DirBase, devDefaults().HashDirs).userRoot({
      name: "joe",
      domain: "ex.test",
      dir: "",
    });
    const files: string[] = [];
    for (const sub of ["new", "cur"]) {
      for await (const e of Deno.readDir(join(root, sub))) files.push(`${sub}/${e.name}`);
    }
    equal(files.length, 1);
    match(files[0], /^cur\/.*:2,S$/);
  });
});

Deno.test("poplib: a second session on the same maildrop gets [IN-USE]", async () => {
  await withServer([JOE], async (srv) => {
    const out = await poplib(
      srv,
      "joe@ex.test",
      "joe secret",
      `
q = poplib.POP3("127.0.0.1", int(sys.argv[1]))
q.user("joemap")
try:
    q.pass_("joe secret")
except poplib.error_proto as e:
    out["second"] = str(e)
p.quit()
q.user("joe@ex.test")
out["after_quit"] = q.pass_("joe secret").decode()
q.quit()
`,
    );
    match(out.second, /-ERR \[IN-USE\]/);
    match(out.after_quit, /^\+OK/);
  });
});

Deno.test("poplib: MAP login, wrong passwords refused with [AUTH] after a delay", async () => {
  await withServer([JOE], async (srv) => {
    const out = await poplib(srv, "joemap", "joe secret", `out["stat"] = p.stat(); p.quit()`);
    equal(out.stat[0], 3);
    const started = Date.now();
    const bad = await python(
      `
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]))
p.user("joe@ex.test")
try:
    p.pass_("wrong")
except poplib.error_proto as e:
    print(e)
p.user("nobody@ex.test")
try:
    p.pass_("joe secret")
except poplib.error_proto as e:
    print(e)
`,
      [String(srv.ports.pop3)],
    );
    ok(Date.now() - started >= 2000, "each failure is delayed by about a second");
    const lines = bad.trim().split("\n");
    equal(lines.length, 2);
    for (const l of lines) match(l, /-ERR \[AUTH\]/);
  });
});

Deno.test("poplib: UIDL values survive a server restart", async () => {
  await withServer([JOE], async (srv) => {
    const uidl = `out["uidl"] = [l.decode() for l in p.uidl()[1]]; p.quit()`;
    const before = await poplib(srv, "joe@ex.test", "joe secret", uidl);
    await srv.stop();
    await srv.restart();
    const after = await poplib(srv, "joe@ex.test", "joe secret", uidl);
    deepStrictEqual(after.uidl, before.uidl);
    equal(after.uidl.length, 3);
  });
});
