/**
 * POP3 RETR and TOP of large messages (SPEC §7): sent in chunks from the file as the
 * client takes them. The incremental dot-stuffer and TOP cut give the bytes of the
 * whole-message functions wherever the pieces are split; against the daemon, a 25 MiB
 * RETR arrives byte-exact, and a client that never reads it holds the server's memory
 * to a few chunks.
 */
import { dotStuff, DotStuffer } from "../src/message/dot_stuffing.ts";
import { TopCut, topOf } from "../src/pop3/message_bytes.ts";
import { LineClient } from "./helpers/client.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { memory } from "./helpers/stream.ts";
import { seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const enc = new TextEncoder();
const SAMPLES = [
  "Subject: x\r\n\r\nbody\r\n",
  ".leading\r\n..two\r\nend",
  "a\nb\n.c\n",
  "bare\rcr\r\n.\r\n",
  "ends with cr\r",
  "",
  "\r\n\r\n.",
  "Subject: no body",
  "H: 1\nH: 2\n\nl1\nl2\nl3\n",
  "H: 1\r\n\r\r\nnot blank\r\n\r\nl1\r\nl2\r\n",
];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `data` in pieces: the first `split` octets, then pieces of `step`. */
function pieces(data: Uint8Array, split: number, step: number): Uint8Array[] {
  const out = [data.subarray(0, split)];
  for (let i = split; i < data.length; i += step) out.push(data.subarray(i, i + step));
  return out;
}

Deno.test("DotStuffer: dotStuff's output for a body in any pieces", () => {
  // Long enough for the vectorized scan inside pieces, with dots and bare line ends.
  const long = "x".repeat(300) + "\r\n.dot\r\n" + "y".repeat(300) + "\nz\r\n";
  for (const sample of [...SAMPLES, long]) {
    const data = enc.encode(sample);
    const whole = dotStuff(data);
    for (let split = 0; split <= data.length; split += Math.max(1, data.length >> 6)) {
      for (const step of [1, 2, 5, 4096]) {
        const s = new DotStuffer();
        const out = concat([...pieces(data, split, step).map((p) => s.push(p)), s.end()]);
        assertEquals(out, whole, `${JSON.stringify(sample.slice(0, 24))} ${split}/${step}`);
      }
    }
  }
});

Deno.test("TopCut: topOf's cut for a message in any pieces", () => {
  for (const sample of SAMPLES) {
    const data = enc.encode(sample);
    for (const lines of [0, 1, 2, 5]) {
      const whole = topOf(data, lines);
      for (let split = 0; split <= data.length; split++) {
        for (const step of [1, 3, 100]) {
          const cut = new TopCut(lines);
          const out = concat(pieces(data, split, step).map((p) => cut.take(p)));
          assertEquals(out, whole, `${JSON.stringify(sample)} lines=${lines} ${split}/${step}`);
        }
      }
    }
  }
});

const USER = "big@example.com", OTHER = "other@example.com", PASS = "secret-big";
const LINE = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123\r\n";

/** A message of about `mib` MiB with a line that needs dot-stuffing every 1000 lines. */
function bigMessage(mib: number): Uint8Array {
  const block = (LINE.repeat(999) + ".dotted line\r\n").repeat(1);
  const body = block.repeat(Math.ceil((mib << 20) / block.length));
  return enc.encode(`Subject: big\r\nFrom: <a@example.net>\r\n\r\n${body}`);
}

Deno.test("pop3: RETR and TOP of a 25 MiB message stream from the file; a client that never reads is not buffered", async () => {
  const seed = await seedUsers({ [USER]: PASS, [OTHER]: PASS });
  const msg = bigMessage(25);
  await seed.store.deliver([{ root: seed.roots[USER] }, { root: seed.roots[OTHER] }], msg);
  for (let i = 0; i < 2; i++) await seed.store.deliver([{ root: seed.roots[USER] }], msg);
  const srv = await startTestServer({ dirBase: seed.dirBase, config: { LogLevel: "info" } });
  try {
    const login = async (user: string) => {
      const c = await LineClient.connect(srv.ports.pop3);
      await c.readLine();
      await c.send(`USER ${user}`);
      await c.readLine();
      await c.send(`PASS ${PASS}`);
      assertMatch(await c.readLine() ?? "", /^\+OK/);
      return c;
    };
    // Three RETRs pipelined and never read: the daemon does not buffer them.
    const pid = srv.pid();
    const lazy = await login(USER);
    // Measured after the login: its scrypt alone takes 16 MiB (or more with wt-guard's N).
    const before = memory(pid).peak;
    await lazy.write("RETR 1\r\nRETR 2\r\nRETR 3\r\n");
    await new Promise((r) => setTimeout(r, 2500));
    const grown = memory(pid).peak - before;
    // Read whole and stuffed into one reply, one RETR alone is 50 MiB (the old code).
    assert(grown < 32, `peak resident memory grew ${grown.toFixed(1)} MiB`);

    // Meanwhile another client is served: TOP cut from the stream, RETR byte-exact.
    const c = await login(OTHER);
    const t0 = Date.now();
    await c.send("NOOP");
    assertMatch(await c.readLine() ?? "", /^\+OK/);
    assert(Date.now() - t0 < 1000, `NOOP took ${Date.now() - t0} ms`);
    lazy.close();
    await c.send("TOP 1 2");
    const top = await c.readUntil((l) => l === ".");
    assertEquals(top, [
      "+OK top of message follows",
      "Subject: big",
      "From: <a@example.net>",
      "",
      LINE.trim(),
      LINE.trim(),
      ".",
    ]);
    await c.send("RETR 1");
    assertMatch(await c.readLine() ?? "", new RegExp(`^\\+OK ${msg.length} octets$`));
    const wire = await c.readBytes(dotStuff(msg).length, 60_000);
    assertEquals(wire, dotStuff(msg));
    await c.send("QUIT");
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
