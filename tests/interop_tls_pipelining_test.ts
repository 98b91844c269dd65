/**
 * Real clients over every transport the socket layer has (plain TCP read into the shared
 * buffer, TLS after STARTTLS/STLS handed off from it, implicit TLS, DEFLATE over both),
 * with messages bigger than the shared 64 KiB read buffer, terminators and literals on
 * its boundaries, and pipelined commands (net/socket_read.ts, socket_write.ts,
 * connection_input.ts onInputReady). Every body is compared byte for byte with what was
 * sent. Python's smtplib, poplib and raw sockets (tests/helpers/interop.py), and swaks.
 */
import { seedUsers } from "./helpers/imap.ts";
import { python, startTestServer, TEST_CERT, type TestServer } from "./helpers/server.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { have, testUnless } from "./helpers/skip.ts";

const PRELUDE = await Deno.readTextFile(new URL("./helpers/interop.py", import.meta.url));

/** A TLS-enabled daemon with joe@ex.test and ann@ex.test; always stopped. */
async function withServer(fn: (srv: TestServer) => Promise<void>): Promise<void> {
  const seed = await seedUsers({ "joe@ex.test": "joe secret", "ann@ex.test": "ann secret" });
  await seed.store.close();
  const srv = await startTestServer({ dirBase: seed.dirBase, tls: true });
  try {
    await fn(srv);
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true });
  }
}

/** Runs `body` after the prelude; it prints one JSON value. */
async function run(srv: TestServer, body: string): Promise<unknown> {
  const out = await python(PRELUDE + "\n" + body, [JSON.stringify(srv.ports), TEST_CERT]);
  return JSON.parse(out.trim().split("\n").pop()!);
}

Deno.test("interop: SMTP STARTTLS/SMTPS/pipelined BDAT in, POP3 STLS/POP3S out, byte-exact", async () => {
  await withServer(async (srv) => {
    const out = await run(
      srv,
      `
import smtplib, threading, time, base64, poplib
sent = {}
# STARTTLS with smtplib: small, > 64 KiB, > 1 MiB, around the 64 KiB read size.
s = smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=60)
s.starttls(context=CTX)
for seed, size in enumerate([100, 70 * 1024, 1200 * 1024, 65536 - 10, 3 * 65536 + 7]):
    sent[seed] = message(seed, size)
    s.sendmail("a@ex.test", ["joe@ex.test"], sent[seed])
s.quit()
# Implicit TLS (submission: authenticated).
s = smtplib.SMTP_SSL("127.0.0.1", PORTS["smtps"], context=CTX, timeout=60)
s.login("joe@ex.test", "joe secret")
sent[10] = message(10, 300 * 1024)
s.sendmail("a@ex.test", ["joe@ex.test"], sent[10])
s.quit()
# After STARTTLS: two BDAT transactions and a NOOP in one write, chunks cut anywhere;
# then DATA whose "CRLF.CRLF" falls around the 64 KiB read size, pipelined too.
c = Client("smtp"); c.line(); c.ehlo(); c.send(b"STARTTLS\\r\\n")
assert c.line().startswith(b"220"); c.starttls()
caps = c.ehlo(); assert b"CHUNKING" in caps and b"PIPELINING" in caps, caps
w = b""
for seed, size in [(20, 1100 * 1024), (21, 50 * 1024)]:
    m = sent[seed] = message(seed, size); cut = len(m) // 3
    w += b"MAIL FROM:<a@ex.test>\\r\\nRCPT TO:<joe@ex.test>\\r\\n"
    w += b"BDAT %d\\r\\n" % cut + m[:cut] + b"BDAT %d\\r\\n" % (len(m) - cut - 7) + m[cut:-7]
    w += b"BDAT 7 LAST\\r\\n" + m[-7:]
c.send(w + b"NOOP\\r\\n")
replies = [c.line() for _ in range(11)]
assert all(r.startswith(b"250") for r in replies), replies
for seed, size in [(30, 65533), (31, 65536), (32, 65539), (33, 131072 - 1)]:
    m = sent[seed] = exact_size(seed, size)
    c.send(b"MAIL FROM:<a@ex.test>\\r\\nRCPT TO:<joe@ex.test>\\r\\nDATA\\r\\n" + dot_stuff(m) + b".\\r\\n")
    r = [c.line() for _ in range(4)]
    assert r[2].startswith(b"354") and r[3].startswith(b"250"), r
c.send(b"QUIT\\r\\n"); assert c.line().startswith(b"221")
# A client that closes right after DATA's dot, without waiting for the reply: the
# message is accepted all the same (the dot ends it).
for tls in (False, True):
    c = Client("smtp"); c.line(); c.ehlo()
    if tls:
        c.send(b"STARTTLS\\r\\n"); c.line(); c.starttls(); c.ehlo()
    c.send(b"MAIL FROM:<a@ex.test>\\r\\nRCPT TO:<joe@ex.test>\\r\\nDATA\\r\\n")
    assert c.line().startswith(b"250") and c.line().startswith(b"250") and c.line().startswith(b"354")
    sent[40 + tls] = message(40 + tls, 2000)
    c.send(dot_stuff(sent[40 + tls]) + b".\\r\\n"); c.close()
# Concurrent uploads, plain (the shared read buffer) and TLS, 1.3 MiB each.
errors = []
def upload(k, mode):
    try:
        m = sent[50 + k] = message(50 + k, 1300 * 1024)
        if mode == "smtps":
            s = smtplib.SMTP_SSL("127.0.0.1", PORTS["smtps"], context=CTX, timeout=60)
            s.login("joe@ex.test", "joe secret")
        else:
            s = smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=60)
            if mode == "starttls": s.starttls(context=CTX)
        s.sendmail("a@ex.test", ["joe@ex.test"], m); s.quit()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=upload, args=(k, mode))
           for k, mode in enumerate(["plain", "starttls", "plain", "smtps"])]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors, errors

def matches(data):
    """The sent messages \`data\` ends with (delivery prepends Received and Return-Path)."""
    return [k for k, v in sent.items() if data.endswith(v)]

# The closed-after-dot deliveries are not acknowledged: wait for them to land.
for _ in range(100):
    p = poplib.POP3("127.0.0.1", PORTS["pop3"]); p.stls(context=CTX)
    p.user("joe@ex.test"); p.pass_("joe secret")
    if p.stat()[0] >= len(sent): break
    p.quit(); time.sleep(0.1)
out = {"sent": len(sent), "stat": p.stat()[0]}
# STLS, poplib: every message retrieved in full, LIST's size its size.
got = []
for i in range(1, p.stat()[0] + 1):
    data = b"".join(l + b"\\r\\n" for l in p.retr(i)[1])
    assert int(p.list(i).split()[2]) == len(data), (i, len(data))
    assert len(matches(data)) == 1, (i, len(data))
    got += matches(data)
p.quit()
out["stls"] = sorted(got)
n = len(got)
# POP3S: AUTH PLAIN with its initial response and CAPA in one write, then every RETR three
# times over in one write (RFC 2449 PIPELINING), read slowly.
c = Client("pop3s", tls=True); c.line()
c.send(b"CAPA\\r\\nAUTH PLAIN " + base64.b64encode(b"\\0joe@ex.test\\0joe secret") + b"\\r\\n")
assert c.line().startswith(b"+OK"); assert b"PIPELINING" in c.multi()
assert c.line().startswith(b"+OK")
c.send(b"".join(b"RETR %d\\r\\n" % (1 + i % n) for i in range(3 * n)) + b"NOOP\\r\\n")
time.sleep(0.3)
slow = []
for i in range(3 * n):
    assert c.line().startswith(b"+OK"); slow += matches(c.multi()); time.sleep(0.005)
assert c.line().startswith(b"+OK")
c.send(b"QUIT\\r\\n"); assert c.line().startswith(b"+OK"); c.close()
out["pop3s_pipelined"] = len(slow)
# STLS by hand, then the same pipeline over a plain TLS upgrade, cut by a disconnect in
# the middle of the third RETR (over 1 MiB); the next session has the maildrop.
for tls in (False, True):
    c = Client("pop3"); c.line()
    if tls:
        c.send(b"STLS\\r\\n"); assert c.line().startswith(b"+OK"); c.starttls()
    c.send(b"USER joe@ex.test\\r\\nPASS joe secret\\r\\nRETR 3\\r\\nRETR 3\\r\\n")
    c.line(); login = c.line(); assert login.startswith(b"+OK"), login  # the maildrop is free
    assert c.line().startswith(b"+OK"); c.take(70000); c.close()
    for _ in range(50):
        d = Client("pop3s", tls=True); d.line()
        d.send(b"USER joe@ex.test\\r\\nPASS joe secret\\r\\n"); d.line()
        if d.line().startswith(b"+OK"): break
        d.close(); time.sleep(0.1)
    d.send(b"RETR 3\\r\\nQUIT\\r\\n"); assert d.line().startswith(b"+OK")
    assert matches(d.multi()) == [2]; assert d.line().startswith(b"+OK")
# Two sessions interleaving: AUTH PLAIN with a continuation (the response in pieces,
# commands behind it in the same write) beside an initial-response login.
a = Client("pop3s", tls=True); b = Client("pop3"); a.line(); b.line()
a.send(b"AUTH PLAIN\\r\\n"); assert a.line() == b"+ "
b.send(b"AUTH PLAIN " + base64.b64encode(b"\\0ann@ex.test\\0ann secret") + b"\\r\\n")
assert b.line().startswith(b"+OK")
resp = base64.b64encode(b"\\0joe@ex.test\\0joe secret") + b"\\r\\nSTAT\\r\\n"
a.send(resp[:5]); time.sleep(0.05); a.send(resp[5:])
assert a.line().startswith(b"+OK"); st = a.line(); assert st.startswith(b"+OK %d " % n), st
inter = 0
for r in range(5):
    a.send(b"RETR 2\\r\\nTOP 3 2\\r\\n"); b.send(b"STAT\\r\\nLIST\\r\\n")
    assert a.line().startswith(b"+OK"); inter += matches(a.multi()) == [1]
    assert b.line() == b"+OK 0 0"; assert b.line().startswith(b"+OK"); b.multi()
    assert a.line().startswith(b"+OK"); a.multi()
out["interleaved"] = inter
print(json.dumps(out))
`,
    ) as Record<string, unknown>;
    assertEquals(out.stat, out.sent);
    assertEquals((out.stls as number[]).length, out.sent);
    assertEquals(new Set(out.stls as number[]).size, out.sent, "every message once");
    assertEquals(out.pop3s_pipelined, 3 * (out.sent as number));
    assertEquals(out.interleaved, 5);
  });
});

Deno.test("interop: IMAP plain/STARTTLS/IMAPS x COMPRESS, big FETCHes, pipelined mix with APPEND", async () => {
  await withServer(async (srv) => {
    const out = await run(
      srv,
      `
results = []
big = message(2, 1200 * 1024)
seeded = [message(k, size) for k, size in enumerate([100, 70 * 1024])] + [big]
# Literals whose end falls around the 64 KiB read size.
seeded += [exact_size(60 + k, size) for k, size in enumerate(range(65530, 65542, 3))]
for mode in ("plain", "starttls", "implicit"):
    for deflate in (False, True):
        c = Client("imaps" if mode == "implicit" else "imap", tls=mode == "implicit"); c.line()
        if mode == "starttls":
            c.send(b"s STARTTLS\\r\\n"); c.ok(b"s"); c.starttls()
        c.send(b'a LOGIN joe@ex.test "joe secret"\\r\\n'); c.ok(b"a")
        if deflate:
            # SELECT pipelined behind COMPRESS, already compressed (RFC 4978 §3).
            c.send(b"z COMPRESS DEFLATE\\r\\n")
            deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
            c.s.sendall(deflater.compress(b"b SELECT INBOX\\r\\n") + deflater.flush(zlib.Z_SYNC_FLUSH))
            assert c.line().startswith(b"z OK"); c.compress(deflater)
        else:
            c.send(b"b SELECT INBOX\\r\\n")
        out, _ = c.ok(b"b")
        exists = int([l for l in out if l.endswith(b"EXISTS")][0].split()[1])
        if exists == 0:
            c.send(b"".join(b"p%d APPEND INBOX {%d+}\\r\\n" % (i, len(m)) + m + b"\\r\\n"
                            for i, m in enumerate(seeded)) + b"n NOOP\\r\\n")
            for i in range(len(seeded)): c.ok(b"p%d" % i)
            c.ok(b"n")
            exists = len(seeded)
        # Every body at once, then 300 small FETCHes in one write.
        c.send(b"f FETCH 1:%d BODY.PEEK[]\\r\\n" % len(seeded))
        _, lits = c.ok(b"f")
        assert lits == seeded, [len(l) for l in lits]
        c.send(b"".join(b"s%d FETCH %d (FLAGS RFC822.SIZE)\\r\\n" % (i, 1 + i % exists) for i in range(300)))
        for i in range(300):
            out, _ = c.ok(b"s%d" % i)
            assert b"RFC822.SIZE %d" % len(seeded[i % exists]) in out[0], out
        # A pipelined mix: FETCH of the big body, STORE, SEARCH, NOOP, an APPEND literal in
        # the middle (non-synchronizing, RFC 7888), the big body again.
        c.send(b"p1 FETCH 3 BODY.PEEK[]\\r\\np2 STORE 1 +FLAGS (\\\\Flagged)\\r\\np3 SEARCH FLAGGED\\r\\n"
               b"p4 NOOP\\r\\np5 APPEND INBOX {%d+}\\r\\n" % len(big) + big +
               b"\\r\\np6 FETCH 3 BODY.PEEK[]\\r\\np7 STORE 1 -FLAGS (\\\\Flagged)\\r\\np8 NOOP\\r\\n")
        res = {t: c.ok(t) for t in [b"p%d" % i for i in range(1, 9)]}
        assert res[b"p1"][1] == [big] and res[b"p6"][1] == [big]
        assert any(l == b"* SEARCH 1" for l in res[b"p3"][0]), res[b"p3"][0]
        # The appended copy, then it goes (the next round starts from the seeded set).
        c.send(b"q UID FETCH * BODY.PEEK[]\\r\\n"); _, lits = c.ok(b"q")
        assert lits == [big], [len(l) for l in lits]
        c.send(b"d UID STORE * +FLAGS.SILENT (\\\\Deleted)\\r\\ne EXPUNGE\\r\\nl LOGOUT\\r\\n")
        c.ok(b"d"); c.ok(b"e"); c.ok(b"l")
        results.append([mode, deflate])
print(json.dumps(results))
`,
    ) as unknown[];
    assertEquals(out.length, 6);
  });
});

testUnless(have("swaks") ? null : "swaks is not installed (apt-get install -y swaks)", {
  name: "interop: 100 sequential swaks connections, pipelined, every other with STARTTLS",
  fn: async () => {
    await withServer(async (srv) => {
      for (let i = 0; i < 100; i++) {
        const args = ["-s", "127.0.0.1", "-p", String(srv.ports.smtp), "--from", "a@ex.test"];
        args.push("--to", "ann@ex.test", "--header", `Subject: swaks ${i}`, "--pipeline");
        if (i % 2) args.push("--tls");
        const r = await new Deno.Command("swaks", { args, stdout: "piped", stderr: "piped" })
          .output();
        assert(r.success, `swaks ${i}: ${new TextDecoder().decode(r.stdout).slice(-600)}`);
      }
      const out = await run(
        srv,
        `
import poplib
p = poplib.POP3_SSL("127.0.0.1", PORTS["pop3s"], context=CTX)
p.user("ann@ex.test"); p.pass_("ann secret")
subjects = set()
for i in range(1, p.stat()[0] + 1):
    for l in p.top(i, 0)[1]:
        if l.startswith(b"Subject: swaks "): subjects.add(int(l.split()[2]))
print(json.dumps(sorted(subjects)))
`,
      );
      assertEquals(out, Array.from({ length: 100 }, (_, i) => i));
    });
  },
});

/** An mbsync configuration syncing every folder of joe@ex.test with a local Maildir. */
function mbsyncrc(port: number, sslType: "STARTTLS" | "IMAPS", local: string): string {
  return [
    "IMAPAccount test",
    "Host 127.0.0.1",
    `Port ${port}`,
    "User joe@ex.test",
    'Pass "joe secret"',
    `SSLType ${sslType}`,
    `CertificateFile ${TEST_CERT}`,
    "AuthMechs PLAIN",
    "",
    "IMAPStore remote",
    "Account test",
    "",
    "MaildirStore local",
    `Path ${local}/`,
    `Inbox ${local}/INBOX`,
    "",
    "Channel test",
    "Far :remote:INBOX",
    "Near :local:INBOX",
    "Create Both",
    "SyncState *",
    "",
  ].join("\n");
}

testUnless(have("mbsync") ? null : "mbsync is not installed (apt-get install -y isync)", {
  name: "interop: mbsync over STARTTLS and IMAPS pulls and pushes bodies over 1 MiB intact",
  fn: async () => {
    await withServer(async (srv) => {
      // The server side: three messages, one over 1 MiB, appended over IMAPS.
      await run(
        srv,
        `
c = Client("imaps", tls=True); c.line()
c.send(b'a LOGIN joe@ex.test "joe secret"\\r\\n'); c.ok(b"a")
for k, size in enumerate([300, 90 * 1024, 1300 * 1024]):
    m = message(70 + k, size)
    c.send(b"p APPEND INBOX {%d+}\\r\\n" % len(m) + m + b"\\r\\n"); c.ok(b"p")
print("[]")
`,
      );
      const home = await Deno.makeTempDir({ prefix: "extremail-interop-mbsync-" });
      try {
        for (
          const [sslType, port] of [["STARTTLS", srv.ports.imap], [
            "IMAPS",
            srv.ports.imaps,
          ]] as const
        ) {
          const local = `${home}/${sslType}`;
          await Deno.mkdir(local);
          await Deno.writeTextFile(`${home}/rc`, mbsyncrc(port, sslType, local));
          // The near side: one message over 1 MiB for mbsync to APPEND.
          const push = new TextEncoder().encode(
            `Subject: pushed ${sslType}\n\n` + `${"y".repeat(999)}\n`.repeat(1200),
          );
          await Deno.mkdir(`${local}/INBOX/new`, { recursive: true });
          await Deno.mkdir(`${local}/INBOX/cur`);
          await Deno.mkdir(`${local}/INBOX/tmp`);
          await Deno.writeFile(`${local}/INBOX/new/1.pushed.local`, push);
          const r = await new Deno.Command("mbsync", {
            args: ["-c", `${home}/rc`, "-a"],
            env: { HOME: home },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const dec = new TextDecoder();
          assert(r.success, `mbsync ${sslType}: ${dec.decode(r.stdout)}${dec.decode(r.stderr)}`);
          // Every local copy, LF lines and mbsync's X-TUID header aside, is the server's body.
          const localBodies: string[] = [];
          for (const dir of ["new", "cur"]) {
            for await (const e of Deno.readDir(`${local}/INBOX/${dir}`)) {
              const text = await Deno.readTextFile(`${local}/INBOX/${dir}/${e.name}`);
              localBodies.push(text.replace(/^X-TUID: .*\n/m, "").replaceAll("\n", "\r\n"));
            }
          }
          const server = await run(
            srv,
            `
c = Client("imaps", tls=True); c.line()
c.send(b'a LOGIN joe@ex.test "joe secret"\\r\\nb EXAMINE INBOX\\r\\nf FETCH 1:* BODY.PEEK[]\\r\\n')
c.ok(b"a"); c.ok(b"b"); _, lits = c.ok(b"f")
print(json.dumps([l.decode() for l in lits]))
`,
          ) as string[];
          assert(server.some((b) => b.includes(`Subject: pushed ${sslType}`)), "pushed copy");
          assertEquals(
            server.filter((b) => b.length > 1024 * 1024).length,
            sslType === "IMAPS" ? 3 : 2,
          );
          // mbsync tags what it stores or appends with X-TUID (its own header).
          const untagged = server.map((b) => b.replace(/^X-TUID: .*\r\n/m, "")).sort();
          localBodies.sort();
          assertEquals(localBodies.map((b) => b.length), untagged.map((b) => b.length));
          assert(localBodies.every((b, i) => b === untagged[i]), "local and server bodies differ");
        }
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    });
  },
});
