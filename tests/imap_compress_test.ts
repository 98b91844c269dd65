/**
 * COMPRESS=DEFLATE (RFC 4978) through the daemon: the RFC §3 exchange with a raw
 * deflating client (Python's zlib), a large FETCH, IDLE with a delivery while
 * compressed, COMPRESSIONACTIVE, and the npm imapflow client, which negotiates
 * COMPRESS by itself.
 */
import { ImapFlow } from "imapflow";
import { message, seedUsers } from "./helpers/imap.ts";
import { python, startTestServer, TEST_CERT } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const USER = "dora@example.com", PASS = "pw-dora";

const RAW = `
import socket, sys, zlib, json, smtplib
port, smtp_port = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
out = {"plain": [], "z": []}
def plain(line):
    s.sendall(line.encode() + b"\\r\\n")
def read_plain(tag):
    while True:
        l = f.readline().decode()
        out["plain"].append(l.strip())
        if l.startswith(tag + " "):
            return l
f.readline()
plain("a1 LOGIN ${USER} ${PASS}"); read_plain("a1")
plain("a2 COMPRESS DEFLATE"); read_plain("a2")
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
dec = zlib.decompressobj(-15)
buf = b""
raw = 0
def send(line):
    s.sendall(comp.compress(line.encode() + b"\\r\\n") + comp.flush(zlib.Z_SYNC_FLUSH))
def fill():
    global buf, raw
    chunk = f.raw.read(65536) if hasattr(f, "raw") else s.recv(65536)
    if not chunk:
        raise EOFError()
    raw += len(chunk)
    buf += dec.decompress(chunk)
def read_line():
    global buf
    while b"\\r\\n" not in buf:
        fill()
    line, buf = buf.split(b"\\r\\n", 1)
    return line
def read_bytes(n):
    global buf
    while len(buf) < n:
        fill()
    data, buf = buf[:n], buf[n:]
    return data
def until(tag):
    lines = []
    while True:
        l = read_line()
        if l.endswith(b"}"):
            n = int(l[l.rindex(b"{") + 1:-1])
            lines.append(l.decode() + " <%d bytes>" % len(read_bytes(n)))
            continue
        lines.append(l.decode())
        if l.startswith((tag + " ").encode()):
            return lines
send("a3 CAPABILITY"); out["z"] += until("a3")
send("a4 SELECT INBOX"); out["z"] += until("a4")
before = raw
send("a5 FETCH 1 BODY.PEEK[]"); out["z"] += until("a5")
out["fetch_wire"] = raw - before
send("a6 COMPRESS DEFLATE"); out["z"] += until("a6")
send("a7 IDLE"); out["z"].append(read_line().decode())
m = smtplib.SMTP("127.0.0.1", smtp_port)
m.sendmail("x@example.org", ["${USER}"], b"Subject: during idle\\r\\n\\r\\nhi\\r\\n")
m.quit()
out["z"].append(read_line().decode())
send("DONE"); out["z"] += until("a7")
send("a8 LOGOUT"); out["z"] += until("a8")
print(json.dumps(out))
`;

/** STARTTLS, then LOGIN, then COMPRESS: compression runs inside TLS (§3's order). */
const TLS = `
import socket, ssl, sys, zlib, json
port, cafile = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
out = {}
def line():
    return f.readline().decode().rstrip("\\r\\n")
line()
s.sendall(b"a1 COMPRESS DEFLATE\\r\\n"); out["before_login"] = line()
s.sendall(b"a2 STARTTLS\\r\\n"); out["tls"] = line()
ctx = ssl.create_default_context(cafile=cafile)
t = ctx.wrap_socket(s, server_hostname="localhost")
tf = t.makefile("rb")
def tline():
    return tf.readline().decode().rstrip("\\r\\n")
t.sendall(b"a3 LOGIN ${USER} ${PASS}\\r\\n")
while not tline().startswith("a3 "): pass
t.sendall(b"a4 COMPRESS DEFLATE\\r\\n"); out["compress"] = tline()
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
dec = zlib.decompressobj(-15)
t.sendall(comp.compress(b"a5 EXAMINE INBOX\\r\\n") + comp.flush(zlib.Z_SYNC_FLUSH))
buf = b""
while b"a5 " not in buf:
    buf += dec.decompress(t.recv(65536))
out["z"] = [l.decode() for l in buf.split(b"\\r\\n") if l]
print(json.dumps(out))
`;

Deno.test({
  name: "imap COMPRESS=DEFLATE: raw client, large FETCH, IDLE, imapflow",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const seed = await seedUsers({ [USER]: PASS });
    const root = seed.roots[USER];
    // A large, compressible body: the wire should carry far less than its size.
    const body = Array.from({ length: 4000 }, (_, i) => `line ${i} of a long message body`)
      .join("\r\n");
    await seed.store.deliver([{ root }], message({ subject: "big", body }));
    const srv = await startTestServer({ dirBase: seed.dirBase, tls: true });
    try {
      await t.step("RFC 4978 §3 exchange with a raw deflating client", async () => {
        const out = JSON.parse(await python(RAW, [String(srv.ports.imap), String(srv.ports.smtp)]));
        const plain: string[] = out.plain;
        assertMatch(plain[0], /^a1 OK \[CAPABILITY [^\]]*COMPRESS=DEFLATE/);
        assertEquals(plain[1], "a2 OK DEFLATE active");
        const z: string[] = out.z;
        assert(z.some((l) => /^\* CAPABILITY .*COMPRESS=DEFLATE/.test(l)), z.join("\n"));
        assert(z.includes("a4 OK [READ-WRITE] SELECT completed"), z.join("\n"));
        const fetched = z.find((l) => l.startsWith("* 1 FETCH"))!;
        const size = Number(/<(\d+) bytes>/.exec(fetched)![1]);
        assert(size > 100_000, `fetched ${size} bytes`);
        assert(out.fetch_wire < size / 3, `${out.fetch_wire} bytes on the wire for ${size}`);
        assert(z.includes("a6 NO [COMPRESSIONACTIVE] DEFLATE is already active"), z.join("\n"));
        assertEquals(
          z[z.indexOf("a6 NO [COMPRESSIONACTIVE] DEFLATE is already active") + 1],
          "+ idling",
        );
        assert(z.includes("* 2 EXISTS"), z.join("\n"));
        assert(z.includes("a7 OK IDLE terminated"), z.join("\n"));
        assert(z.some((l) => l.startsWith("* BYE")), z.join("\n"));
        assertEquals(z[z.length - 1], "a8 OK Logout completed");
      });

      await t.step("RFC 4978 §3: COMPRESS after STARTTLS and LOGIN, not before", async () => {
        const out = JSON.parse(await python(TLS, [String(srv.ports.imap), TEST_CERT]));
        assertEquals(out.before_login, "a1 BAD Not authenticated");
        assertMatch(out.tls, /^a2 OK/);
        assertEquals(out.compress, "a4 OK DEFLATE active");
        assert(out.z.includes("a5 OK [READ-ONLY] EXAMINE completed"), out.z.join("\n"));
        assert(out.z.includes("* 2 EXISTS"), out.z.join("\n"));
      });

      await t.step("imapflow negotiates COMPRESS and works through it", async () => {
        const client = new ImapFlow({
          host: "127.0.0.1",
          port: srv.ports.imap,
          secure: false,
          auth: { user: USER, pass: PASS },
          // imapflow does STARTTLS when offered: COMPRESS then runs inside TLS.
          tls: { ca: [await Deno.readTextFile(TEST_CERT)] },
          logger: false,
        });
        await client.connect();
        try {
          assert(
            (client as unknown as { _deflate?: unknown })._deflate,
            "imapflow did not enable compression",
          );
          assert(client.secureConnection, "imapflow did not upgrade with STARTTLS");
          const lock = await client.getMailboxLock("INBOX");
          try {
            const subjects: string[] = [];
            for await (const m of client.fetch("1:*", { envelope: true, source: true })) {
              subjects.push(m.envelope?.subject ?? "");
              if (m.envelope?.subject === "big") assert(m.source!.length > 100_000);
            }
            assertEquals(subjects, ["big", "during idle"]);
          } finally {
            lock.release();
          }
          const st = await client.status("INBOX", { messages: true });
          assert(st, "STATUS answered");
          assertEquals(st.messages, 2);
        } finally {
          await client.logout();
        }
      });
    } finally {
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    }
  },
});
