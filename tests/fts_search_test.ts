/**
 * SEARCH BODY/TEXT through the daemon equals a brute-force scan (RFC 3501 §6.4.4: the
 * string is a substring of the decoded text, compared as search_eval.ts folds it) on 300
 * generated messages (tests/helpers/fts_messages.ts: MIME parts, transfer encodings,
 * charsets, HTML, RFC 2047 subjects, case pairs, composed and decomposed accents), with
 * keys alone and combined with NOT, OR, flags and UID sets (search_decide.ts decides
 * those from the index's answers), in four states of the index: none yet (every message
 * scanned), complete, partial (messages expunged and appended since it was caught up),
 * and read again after a restart.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { messageText } from "../src/message/body_text.ts";
import { toCrlf } from "../src/message/line_endings.ts";
import { parseMessage } from "../src/message/mime.ts";
import { fold } from "../src/message/search_fold.ts";
import { FTS_FILE, indexedUids } from "../src/store/fts/db.ts";
import { message, needles, rng } from "./helpers/fts_messages.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "ftss@example.com", PASS = "ftss-secret";
const COUNT = 300;
const enc = new TextEncoder();

interface Known {
  BODY: string;
  TEXT: string;
  seen: boolean;
}

/** What the scanning search compares against (msgcache: bare LFs served as CRLF). */
function texts(file: Uint8Array): { BODY: string; TEXT: string } {
  const bytes = parseMessage(file).bareLf ? toCrlf(file) : file;
  const s = parseMessage(bytes);
  return {
    BODY: fold(messageText(bytes, s, "BODY")),
    TEXT: fold(messageText(bytes, s, "TEXT")),
  };
}

/** A search string as an IMAP literal (any character, quotes included). */
function literal(s: string): string {
  return `{${enc.encode(s).length}+}\r\n${s}`;
}

type Query = { command: string; want: (uid: number, m: Known) => boolean };

function queries(raw: string[]): Query[] {
  const out: Query[] = [];
  const has = (m: Known, which: "BODY" | "TEXT", s: string) => m[which].includes(fold(s));
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i], b = raw[(i * 7 + 3) % raw.length];
    const which = i % 2 ? "TEXT" : "BODY";
    out.push({ command: `${which} ${literal(a)}`, want: (_, m) => has(m, which, a) });
    switch (i % 5) {
      case 0:
        out.push({ command: `NOT BODY ${literal(a)}`, want: (_, m) => !has(m, "BODY", a) });
        break;
      case 1:
        out.push({
          command: `OR BODY ${literal(a)} TEXT ${literal(b)}`,
          want: (_, m) => has(m, "BODY", a) || has(m, "TEXT", b),
        });
        break;
      case 2:
        out.push({
          command: `SEEN TEXT ${literal(a)}`,
          want: (_, m) => m.seen && has(m, "TEXT", a),
        });
        break;
      case 3:
        out.push({
          command: `UID 50:220 BODY ${literal(a)} NOT TEXT ${literal(b)}`,
          want: (uid, m) => uid >= 50 && uid <= 220 && has(m, "BODY", a) && !has(m, "TEXT", b),
        });
        break;
      default:
        // A key the index does not answer beside one it does: each message evaluated.
        out.push({
          command: `BODY ${literal(a)} FROM "example"`,
          want: (_, m) => has(m, "BODY", a),
        });
    }
  }
  return out;
}

function uidsOf(lines: string[]): number[] {
  const line = lines.find((l) => l.startsWith("* SEARCH")) ?? "";
  return line.split(" ").slice(2).filter((x) => x !== "").map(Number);
}

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for the index");
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("fts: SEARCH BODY/TEXT equals a brute-force scan, before, with and after the index", async () => {
  const r = rng(Number(Deno.env.get("FTS_SEED") ?? 20261207));
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  const known = new Map<number, Known>();
  const files: Uint8Array[] = [];
  for (let i = 1; i <= COUNT + 20; i++) files.push(message(r, i));
  for (let i = 0; i < COUNT; i++) {
    const seen = i % 3 === 0;
    const { uid } = await seed.store.append(root, "INBOX", files[i], { flags: seen ? "S" : "" });
    known.set(uid, { ...texts(files[i]), seen });
  }
  await seed.store.close();
  // Needles as UTF-8 carries them (a slice through a surrogate pair: U+FFFD), without
  // NUL (an IMAP string cannot hold one), not empty.
  const all = [...known.values()].flatMap((m) => [m.BODY, m.TEXT]);
  const raw = needles(r, all, 70).map((n) => n.toWellFormed())
    .filter((n) => n !== "" && !n.includes("\0"));
  raw.push("CAFÉ", "cafe\u0301", "ΣΊΣΥΦΟΣ", "İstanbul", "naïve", "=?utf-8?b?");
  const list = queries(raw);
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const check = async (c: ImapClient, label: string) => {
    let hits = 0;
    for (const q of list) {
      const res = await c.cmd(`UID SEARCH CHARSET UTF-8 ${q.command}`);
      ok(res.status === "OK", `${label}: ${q.command}: ${res.tagged}`);
      const want = [...known].filter(([uid, m]) => q.want(uid, m)).map(([uid]) => uid);
      deepStrictEqual(uidsOf(res.lines), want, `${label}: ${q.command}`);
      hits += want.length;
    }
    ok(hits > 1000, `${label}: only ${hits} hits in all`);
  };
  try {
    let c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await check(c, "scanning");
    const index = join(root, FTS_FILE);
    await until(() => indexedUids(index).length === COUNT);
    await check(c, "indexed");
    // Expunged and new messages: the index holds some the folder lost, lacks the new.
    const gone = [...known.keys()].filter((uid) => uid % 11 === 0);
    await c.cmd(`UID STORE ${gone.join(",")} +FLAGS.SILENT (\\Deleted)`);
    await c.cmd("EXPUNGE");
    for (const uid of gone) known.delete(uid);
    for (let i = COUNT; i < files.length; i++) {
      const text = new TextDecoder().decode(files[i]);
      const res = await c.cmd(`APPEND INBOX {${enc.encode(text).length}+}\r\n${text}`);
      const uid = Number(/APPENDUID \d+ (\d+)/.exec(res.tagged)![1]);
      known.set(uid, { ...texts(files[i]), seen: false });
    }
    await check(c, "partly indexed");
    await until(() => indexedUids(index).length === known.size);
    c.close();
    await srv.stop();
    await srv.restart();
    c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await check(c, "after a restart");
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
