/**
 * Plain SEARCH and UID SEARCH of one flag or ALL (search.ts flagSearchLine, written from the
 * letter-set column by search_line.ts): the numbers FETCH shows for each key, while
 * another session's EXPUNGE is not reported yet (those messages are left out, the others
 * keep this session's numbers), and after a restart (the folder's summary, no row read).
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { newBaseName } from "../src/store/maildir_names.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "line@example.com", PASS = "secret-line";
const COUNT = 40;
/** Flags of message i (1-based): every third seen, every fifth flagged. */
const flagsOf = (i: number) => `${i % 5 ? "" : "F"}${i % 3 ? "" : "S"}`;

/** The numbers of the one "* SEARCH" line (its only untagged line). */
async function search(c: ImapClient, command: string): Promise<number[]> {
  const r = await c.cmd(command);
  equal(r.status, "OK", command);
  equal(r.lines.length, 1, `${command}: ${r.lines.join(" | ")}`);
  const m = /^\* SEARCH((?: \d+)*)$/.exec(r.lines[0]);
  if (!m) throw new Error(`${command}: ${r.lines[0]}`);
  return m[1].split(" ").filter(Boolean).map(Number);
}

/** Each key and the messages (1-based, by arrival) it selects. */
const KEYS: [string, (i: number) => boolean][] = [
  ["UNSEEN", (i) => !flagsOf(i).includes("S")],
  ["SEEN", (i) => flagsOf(i).includes("S")],
  ["FLAGGED", (i) => flagsOf(i).includes("F")],
  ["UNFLAGGED", (i) => !flagsOf(i).includes("F")],
  ["ALL", () => true],
  ["UNKEYWORD Nope", () => true],
  ["KEYWORD Nope", () => false],
];

/** SEARCH and UID SEARCH of every key give `live` (arrival numbers) by `seqOf` and `uidOf`. */
async function checkAll(
  c: ImapClient,
  live: number[],
  seqOf: (i: number) => number,
  uidOf: (i: number) => number,
  label: string,
) {
  for (const [key, hit] of KEYS) {
    const chosen = live.filter(hit);
    deepStrictEqual(await search(c, `SEARCH ${key}`), chosen.map(seqOf), `${label}: ${key}`);
    deepStrictEqual(
      await search(c, `UID SEARCH ${key}`),
      chosen.map(uidOf),
      `${label}: UID ${key}`,
    );
  }
}

Deno.test("SEARCH of one flag or ALL: by FETCH, with an expunge not reported, after a restart", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const data = new TextEncoder().encode("Subject: m\r\n\r\nbody\r\n");
  for (let i = 1; i <= COUNT; i++) {
    const name = `${newBaseName(data.length)}:2,${flagsOf(i)}`;
    Deno.writeFileSync(join(seed.roots[USER], "cur", name), data);
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const a = await ImapClient.connect(srv.ports.imap);
    await a.login(USER, PASS);
    equal((await a.cmd("SELECT INBOX")).status, "OK");
    // Arrival order is UID order: message i has sequence number i and the i-th UID.
    const uids = (await a.cmd("FETCH 1:* (UID)")).lines.map((l) => Number(/UID (\d+)/.exec(l)![1]));
    equal(uids.length, COUNT);
    const every = Array.from({ length: COUNT }, (_, k) => k + 1);
    await checkAll(a, every, (i) => i, (i) => uids[i - 1], "all there");

    // Another session expunges 3, 4 and 30; this one has not been told (SEARCH sends no
    // EXPUNGE, RFC 3501 §7.4.1): they are left out, the others keep their numbers.
    const b = await ImapClient.connect(srv.ports.imap);
    await b.login(USER, PASS);
    await b.cmd("SELECT INBOX");
    equal((await b.cmd("STORE 3,4,30 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    equal((await b.cmd("EXPUNGE")).status, "OK");
    b.close();
    const live = every.filter((i) => i !== 3 && i !== 4 && i !== 30);
    for (const [key, hit] of KEYS) {
      deepStrictEqual(await search(a, `SEARCH ${key}`), live.filter(hit), `stale view: ${key}`);
    }
    a.close();

    // After a restart: the folder from its summary; numbers follow the new view.
    await srv.stop();
    await srv.restart();
    const r = await ImapClient.connect(srv.ports.imap);
    await r.login(USER, PASS);
    equal((await r.cmd("SELECT INBOX")).status, "OK");
    await checkAll(r, live, (i) => live.indexOf(i) + 1, (i) => uids[i - 1], "restarted");
    r.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true });
  }
});
