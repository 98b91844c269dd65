/**
 * SPEC §7 under a crash: 300 messages over 10 connections while the daemon is
 * SIGKILLed at a random moment. After a restart, every message that got 250 is in
 * each of its recipients' Maildirs exactly once and byte-exact, and nothing partial
 * is visible (new/ and cur/ hold only complete messages we sent).
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import {
  concat,
  dec,
  DOMAIN,
  enc,
  inbox,
  readReply,
  startWorld,
  stuff,
  withoutTrace,
} from "./smtp_fixture.ts";

const CONNECTIONS = 10;
const PER_CONNECTION = 30;

interface Sent {
  id: string;
  body: Uint8Array;
  to: number[];
  acked: boolean;
}

/** A unique message of varying size with dot lines and 8-bit bytes. */
function message(id: string, size: number): Uint8Array {
  const head = `From: crash@client.example\r\nSubject: ${id}\r\nMessage-ID: <${id}@x>\r\n\r\n`;
  const lines = [".dot first\r\n", "caf\u00e9 \u20ac\r\n", "..two\r\n"];
  const parts = [head];
  let length = head.length;
  for (let i = 0; length < size; i++) {
    const line = `${id} line ${i}: ${lines[i % 3]}`;
    parts.push(line);
    length += line.length;
  }
  return enc.encode(parts.join("") + "end\r\n");
}

Deno.test("smtp crash: SIGKILL during ingest loses no acknowledged message", async () => {
  const users = Array.from({ length: CONNECTIONS }, (_, i) => ({ name: `u${i}` }));
  const world = await startWorld(users);
  const roots = users.map((u) => world.roots[u.name]);
  const all: Sent[] = [];
  let acked = 0;
  const killAt = 1 + Math.floor(Math.random() * (CONNECTIONS * PER_CONNECTION - 2));
  let killing: Promise<void> | null = null;
  try {
    await Promise.all(Array.from({ length: CONNECTIONS }, async (_, ci) => {
      let c: LineClient | null = null;
      try {
        c = await LineClient.connect(world.srv.ports.smtp);
        await readReply(c);
        await c.send("EHLO crash.client.example");
        await readReply(c);
        for (let m = 0; m < PER_CONNECTION; m++) {
          const id = `crash-${ci}-${m}-${crypto.randomUUID().slice(0, 8)}`;
          const to = m % 5 === 0 ? [ci, (ci + 1) % CONNECTIONS] : [ci];
          const body = message(id, 500 + ((ci * 7919 + m * 104729) % 120_000));
          const sent: Sent = { id, body, to, acked: false };
          all.push(sent);
          await c.write(
            `MAIL FROM:<crash@client.example>\r\n` +
              to.map((u) => `RCPT TO:<u${u}@${DOMAIN}>\r\n`).join("") + "DATA\r\n",
          );
          for (let k = 0; k < to.length + 2; k++) {
            const r = await readReply(c);
            if (r.code >= 400) throw new Error(r.text);
          }
          await c.write(concat(stuff(body), ".\r\n"));
          const r = await readReply(c);
          assertMatch(r.text, /^250 2\.0\.0 Ok: queued as /);
          sent.acked = true;
          if (++acked === killAt) killing = world.srv.kill();
        }
      } catch {
        // The daemon was killed under this client: expected.
      } finally {
        c?.close();
      }
    }));
    await (killing ?? world.srv.kill());
    assert(acked >= killAt, `killed after ${acked} acknowledgements`);

    // Restart on the same DirBase: the daemon must come up cleanly after the crash.
    await world.srv.restart();
    const byId = new Map(all.map((s) => [s.id, s]));
    for (let u = 0; u < CONNECTIONS; u++) {
      const files = await inbox(roots[u]);
      const seen = new Map<string, number>();
      for (const f of files) {
        const content = withoutTrace(f.bytes);
        const id = /^From: [^\r]*\r\nSubject: (\S+)\r\n/.exec(dec.decode(content.subarray(0, 200)))
          ?.[1];
        const sent = id ? byId.get(id) : undefined;
        assert(sent, `unexpected or partial file ${f.name} in u${u}`);
        assert(sent.to.includes(u), `${id} delivered to the wrong user u${u}`);
        assertEquals(content.length, sent.body.length, `${id} is complete`);
        assert(content.every((b, i) => b === sent.body[i]), `${id} is byte-exact`);
        seen.set(id!, (seen.get(id!) ?? 0) + 1);
      }
      for (const s of all) {
        if (!s.to.includes(u)) continue;
        const n = seen.get(s.id) ?? 0;
        assert(n <= 1, `${s.id} stored ${n} times in u${u}`);
        if (s.acked) assertEquals(n, 1, `acknowledged ${s.id} missing from u${u}`);
      }
    }

    // And it still takes mail.
    const c = await LineClient.connect(world.srv.ports.smtp);
    try {
      await readReply(c);
      await c.write(`EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u0@${DOMAIN}>\r\nDATA\r\n`);
      for (let k = 0; k < 4; k++) await readReply(c);
      await c.write("Subject: after restart\r\n\r\nok\r\n.\r\n");
      assertMatch((await readReply(c)).text, /^250 /);
    } finally {
      c.close();
    }
  } finally {
    await world.close();
  }
});
