/**
 * The delivery journal in the daemon (docs/internals.md, "The durable delivery path"): an
 * SMTP delivery is in the mailbox at its 250 and a clean stop leaves no record behind; a
 * record left by a process that died is replayed before the listeners open.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { join } from "node:path";
import { LineClient } from "./helpers/client.ts";
import { DOMAIN, enc, inbox, readReply, startWorld, withoutTrace } from "./smtp_fixture.ts";
import { encodeRecord, journalDir } from "../src/store/delivery_journal.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("smtp: a delivery is in new/ at its 250; the journal is replayed at the next start", async () => {
  const world = await startWorld([{ name: "ann" }]);
  const root = world.roots.ann;
  const dirBase = world.srv.config.DirBase;
  try {
    const c = await LineClient.connect(world.srv.ports.smtp);
    try {
      await readReply(c);
      await c.write(`EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<ann@${DOMAIN}>\r\nDATA\r\n`);
      for (let k = 0; k < 4; k++) await readReply(c);
      await c.write("Subject: journaled\r\n\r\nhello\r\n.\r\n");
      assertMatch((await readReply(c)).text, /^250 2\.0\.0 /);
      const files = await inbox(root);
      assertEquals(files.length, 1);
      assertEquals(
        new TextDecoder().decode(withoutTrace(files[0].bytes)),
        "Subject: journaled\r\n\r\nhello\r\n",
      );
    } finally {
      c.close();
    }
    await world.srv.stop();
    // A clean stop waits for the background syncs: every record retired, no segment left.
    assertEquals(await names(journalDir(dirBase)), []);

    // What a crash right after a 250 can leave: a record whose file never reached new/,
    // and a second one torn (never acknowledged).
    const message = enc.encode("Subject: from the journal\r\n\r\nreplayed\r\n");
    const name = `1700000000.M000001P1Q1.test,S=${message.length}`;
    const whole = encodeRecord(
      { src: join(root, "tmp", name), dests: [join(root, "new", name)] },
      message,
    );
    const torn = encodeRecord(
      { src: join(root, "tmp", "x"), dests: [join(root, "new", "x")] },
      message,
    ).subarray(0, 40);
    await Deno.writeFile(
      join(journalDir(dirBase), "0000000007.journal"),
      new Uint8Array([...whole, ...torn]),
    );
    await world.srv.restart();
    await world.srv.waitForLog(/delivery journal replayed: 1 record\(s\), 1 file\(s\) restored/);
    const after = await inbox(root);
    assertEquals(after.length, 2);
    const restored = after.find((f) => f.name === name);
    assert(restored, `${name} restored into new/`);
    assertEquals(new TextDecoder().decode(restored.bytes), new TextDecoder().decode(message));
    assert(!after.some((f) => f.name === "x"), "the torn record was not replayed");
    assertEquals(await names(journalDir(dirBase)), []);
  } finally {
    await world.close();
  }
});
