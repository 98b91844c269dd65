/**
 * SEARCH LARGER / SMALLER (RFC 9051 §6.4.4: RFC822.SIZE strictly larger / smaller, so a
 * message of exactly the limit is neither) decided from the folder's size column without
 * making entries (search_decide.ts): the answers must be those of RFC822.SIZE, message by
 * message, including files with bare LFs, whose size served (CRLF) is larger than the
 * file's. First pure (the decision never contradicts the evaluator, for the dates and
 * mod-sequences the columns answer too), then through the daemon against FETCH
 * RFC822.SIZE, before and after a restart (rows read from the index).
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { compileKey, evaluate, type SearchMessage } from "../src/imap/search_eval.ts";
import { decideWithoutEntries, UNKNOWN, YES } from "../src/imap/search_decide.ts";
import { parseSearchKeys } from "../src/imap/search_keys.ts";
import type { Token } from "../src/imap/parser.ts";
import type { MailboxView } from "../src/imap/view.ts";
import { newBaseName } from "../src/store/maildir_names.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "sizes@example.com", PASS = "secret-sizes";
const enc = new TextEncoder();

const tokens = (text: string): Token[] =>
  text.split(" ").map((value) => ({ kind: "atom", value }) as Token);

/** A pseudo-random sequence that is the same on every run. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
}

Deno.test("search sizes: the column decision never contradicts RFC822.SIZE", () => {
  const rand = lcg(17);
  const n = 3000;
  const files: number[] = [], served: number[] = [], modseqs: number[] = [];
  // Internal dates over ten days around 2024-01-05 UTC; one in seven not known yet (null).
  const DAY = 86_400_000, T0 = Date.UTC(2024, 0, 1);
  const dates: number[] = [], known: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    dates.push(T0 + Math.floor(rand() * 10 * DAY));
    known.push(i % 7 === 3 ? null : dates[i]);
    const file = Math.floor(rand() * 4000);
    files.push(file);
    // One in ten has bare LFs: served with CRLF, between its own size and twice it.
    served.push(rand() < 0.1 ? file + Math.floor(rand() * (file + 1)) : file);
    modseqs.push(1 + Math.floor(rand() * 50));
  }
  const uids = Uint32Array.from({ length: n }, (_, i) => i + 1);
  const view = {
    uids,
    snapshot: uids,
    recent: new Set<number>(),
    folder: {
      sizeAt: (_: Uint32Array, i: number) => files[i],
      modseqAt: (_: Uint32Array, i: number) => modseqs[i],
      dateAt: (_: Uint32Array, i: number) => known[i],
    },
    flagsAt: (i: number) => (i % 3 === 0 ? "S" : ""),
  } as unknown as MailboxView;
  const now = T0 + 8 * DAY;
  const ctx = { exists: n, lastUid: n, keywordLetter: () => undefined, saved: [], now };
  const limits = [0, 1, 2, 10, 999, 1000, 1001, 2000, 3999, 4000, 8000, 4294967296];
  let decidedAll = 0, unknown = 0;
  for (const limit of limits) {
    for (
      const text of [
        `LARGER ${limit}`,
        `SMALLER ${limit}`,
        `NOT LARGER ${limit}`,
        `OR LARGER ${limit} SEEN`,
        `LARGER ${limit} SMALLER ${limit + 500}`,
        `UNSEEN SMALLER ${limit}`,
        `MODSEQ ${limit % 60}`,
        `SINCE ${4 + (limit % 5)}-Jan-2024 LARGER ${limit}`,
        `OR BEFORE 3-Jan-2024 ON ${1 + (limit % 9)}-Jan-2024`,
        `NOT YOUNGER ${86400 * (1 + (limit % 6))}`,
        `OLDER ${3600 * (1 + (limit % 100))} SMALLER ${limit}`,
      ]
    ) {
      const node = compileKey(parseSearchKeys(tokens(text)), ctx);
      const decided = decideWithoutEntries(node, view, null, null);
      ok(decided !== null, `${text}: decided from the columns`);
      for (let i = 0; i < n; i++) {
        if (decided[i] === UNKNOWN) {
          unknown++;
          continue;
        }
        decidedAll++;
        const m: SearchMessage = {
          seq: i + 1,
          uid: i + 1,
          flags: i % 3 === 0 ? "S" : "",
          recent: false,
          size: served[i],
          modseq: BigInt(modseqs[i]),
          internalDate: () => dates[i],
          saveDate: () => 0,
          header: () => [],
          text: () => Promise.resolve(""),
          sentDay: () => Promise.resolve(null),
        };
        equal(decided[i] === YES, evaluate(node, m), `${text}: message ${i + 1}`);
      }
    }
  }
  ok(decidedAll > unknown, `${unknown} unknown against ${decidedAll} decided`);
  // Left over are only the files whose served size could fall on either side of the
  // limit (at most twice the file's size): LARGER 10 of a folder without tiny files
  // decides every message.
  for (const limit of limits) {
    const node = compileKey(parseSearchKeys(tokens(`LARGER ${limit}`)), ctx);
    const decided = decideWithoutEntries(node, view, null, null)!;
    equal(
      decided.filter((v) => v === UNKNOWN).length,
      files.filter((f) => 2 * f > limit && f <= limit).length,
      `LARGER ${limit}`,
    );
  }
});

/** A message of exactly `total` octets, lines ended by `eol`, with many line ends. */
function sized(total: number, eol: string, tag: string): Uint8Array {
  const head = `Subject: ${tag}${eol}${eol}`;
  let body = "";
  while (head.length + body.length + 8 + eol.length <= total) body += "1234567" + " " + eol;
  body += "x".repeat(total - head.length - body.length);
  const bytes = enc.encode(head + body);
  equal(bytes.length, total);
  return bytes;
}

Deno.test("search sizes: LARGER and SMALLER answer as RFC822.SIZE does, with a restart", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const inbox = seed.roots[USER];
  // CRLF files of exact sizes around 200, and files another MDA wrote with bare LFs.
  const files: { bytes: Uint8Array; seen: boolean }[] = [
    ...[100, 199, 200, 201, 300, 1000].map((n, i) => ({
      bytes: sized(n, "\r\n", `crlf ${n}`),
      seen: i % 2 === 0,
    })),
    ...[150, 120, 190, 250, 400].map((n, i) => ({
      bytes: sized(n, "\n", `lf ${n}`),
      seen: i % 2 === 1,
    })),
  ];
  for (const f of files) {
    const base = newBaseName(f.bytes.length);
    await Deno.writeFile(join(inbox, "cur", `${base}:2,${f.seen ? "S" : ""}`), f.bytes);
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    let c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    ok((await c.cmd("SELECT INBOX")).lines.includes(`* ${files.length} EXISTS`));
    // Read every message once: the size served for files with bare LFs is then known.
    equal((await c.cmd("FETCH 1:* BODY.PEEK[]")).status, "OK");
    const sizesOf = async () => {
      const r = await c.cmd("FETCH 1:* (RFC822.SIZE FLAGS)");
      const out: { size: number; seen: boolean }[] = [];
      for (const line of r.lines) {
        const m = /^\* (\d+) FETCH \(RFC822\.SIZE (\d+) FLAGS \(([^)]*)\)/.exec(line);
        if (m) out[Number(m[1]) - 1] = { size: Number(m[2]), seen: m[3].includes("\\Seen") };
      }
      return out;
    };
    const sizes = await sizesOf();
    equal(sizes.length, files.length);
    // The files with bare LFs are served larger than they are stored.
    const stored = new Map(files.map((f) => [f.bytes.length, f]));
    ok(sizes.filter((s) => !stored.has(s.size)).length >= 5, JSON.stringify(sizes));
    const search = async (key: string) => {
      const r = await c.cmd(`SEARCH ${key}`);
      equal(r.status, "OK", r.tagged);
      const line = r.lines.find((l) => l.startsWith("* SEARCH")) ?? "";
      return line.split(" ").slice(2).map(Number);
    };
    const expect = (test: (s: { size: number; seen: boolean }) => boolean) =>
      sizes.flatMap((s, i) => (test(s) ? [i + 1] : []));
    const check = async () => {
      const limits = new Set([0, 1, 4294967296]);
      for (const s of sizes) for (const d of [-1, 0, 1]) limits.add(s.size + d);
      for (const f of files) for (const d of [-1, 0, 1]) limits.add(f.bytes.length + d);
      for (const n of limits) {
        deepStrictEqual(await search(`LARGER ${n}`), expect((s) => s.size > n), `LARGER ${n}`);
        deepStrictEqual(await search(`SMALLER ${n}`), expect((s) => s.size < n), `SMALLER ${n}`);
        deepStrictEqual(await search(`NOT LARGER ${n}`), expect((s) => s.size <= n));
        deepStrictEqual(
          await search(`OR SMALLER ${n} SEEN`),
          expect((s) => s.size < n || s.seen),
          `OR SMALLER ${n} SEEN`,
        );
      }
      // RFC 9051 §6.4.4: a message of exactly the limit is neither larger nor smaller.
      const at200 = sizes.findIndex((s) => s.size === 200) + 1;
      ok(at200 > 0);
      ok(!(await search("LARGER 200")).includes(at200));
      ok(!(await search("SMALLER 200")).includes(at200));
      ok((await search("LARGER 199")).includes(at200));
      ok((await search("SMALLER 201")).includes(at200));
    };
    await check();
    c.close();
    // After a restart the rows are read from the index, the sizes served from its cache.
    await srv.stop();
    await srv.restart();
    c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    equal((await c.cmd("SELECT INBOX")).status, "OK");
    await check();
    deepStrictEqual(await sizesOf(), sizes);
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
