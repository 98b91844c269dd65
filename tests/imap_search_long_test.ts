/**
 * A long SEARCH of one flag (search.ts flagSearchLine: written from the runs straight into
 * one large reply buffer, net/outbuf.ts keeps it for the next): the client gets one
 * "* SEARCH" line with every match, in order, then the tagged reply: sequence numbers,
 * UIDs, and sequence numbers again (from the kept buffer).
 */
import { equal } from "node:assert/strict";
import { join } from "node:path";
import { newBaseName } from "../src/store/maildir_names.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "pieces@example.com", PASS = "secret-pieces";
/** 16,000 messages, 1 in 7 seen: about 13,700 numbers of up to 5 digits, 80 KB. */
const COUNT = 16_000;

Deno.test("a long SEARCH UNSEEN arrives as one line, in order, twice", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const inbox = seed.roots[USER];
  const data = new TextEncoder().encode("Subject: m\r\n\r\nbody\r\n");
  for (let i = 0; i < COUNT; i++) {
    Deno.writeFileSync(
      join(inbox, "cur", `${newBaseName(data.length)}:2,${i % 7 ? "" : "S"}`),
      data,
    );
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    equal((await c.cmd("SELECT INBOX")).status, "OK");
    // The seen ones by sequence number, from FETCH: SEARCH must give all the others.
    const fetched = await c.cmd("FETCH 1:* (UID FLAGS)");
    const unseen: number[] = [], unseenUids: number[] = [];
    for (const line of fetched.lines) {
      const m = /^\* (\d+) FETCH \((?=.*UID (\d+))(?=.*FLAGS \(([^)]*)\))/.exec(line);
      if (m && !m[3].includes("\\Seen")) unseen.push(Number(m[1])), unseenUids.push(Number(m[2]));
    }
    equal(unseen.length, COUNT - Math.ceil(COUNT / 7));
    for (
      const [command, want] of [["SEARCH UNSEEN", unseen], [
        "UID SEARCH UNSEEN",
        unseenUids,
      ]] as const
    ) {
      const r = await c.cmd(command);
      equal(r.status, "OK", command);
      equal(r.lines.length, 1, `${command}: one untagged line`);
      equal(r.lines[0], `* SEARCH ${want.join(" ")}`, command);
    }
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true });
  }
});
