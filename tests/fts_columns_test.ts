/**
 * The full-text index's columns and queries (src/store/fts/columns.ts, db.ts) against the
 * scanning search they stand in for: randomized messages (plain, quoted-printable,
 * base64, Latin-1, HTML, multipart, an embedded message, bare LFs, no text part, NUL and
 * lone surrogates) and needles (substrings of the folded text across word and header/body
 * boundaries, non-ASCII, case changes, words that are not there), each answered as
 * SEARCH answers with the index (index hits, confirmed by scanning when not exact) and
 * compared with `fold(messageText(...)).includes(needle)` for every message.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { messageText } from "../src/message/body_text.ts";
import { parseMessage } from "../src/message/mime.ts";
import { toCrlf } from "../src/message/line_endings.ts";
import { fold } from "../src/message/search_fold.ts";
import { ftsColumns, ftsQuery, SEAM } from "../src/store/fts/columns.ts";
import { message, needles, rng } from "./helpers/fts_messages.ts";
import { DatabaseSync } from "node:sqlite";
import { FTS_FORMAT, FtsDb } from "../src/store/fts/db.ts";

const enc = new TextEncoder();

Deno.test("fts: index answers equal the scanning search on randomized messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-cols-" });
  const db = FtsDb.open(join(dir, "x.sqlite"), 7);
  try {
    const r = rng(Number(Deno.env.get("FTS_SEED") ?? 20261206));
    const files: Uint8Array[] = [];
    const items = [];
    for (let i = 1; i <= 120; i++) {
      const bytes = message(r, i);
      files.push(bytes);
      const path = join(dir, `${i}.eml`);
      await Deno.writeFile(path, bytes);
      items.push({ uid: i, path });
    }
    const out = db.index(items);
    equal(out.indexed.length, 120);
    // What the scanning search compares against (msgcache: bare LFs served as CRLF).
    const texts = files.map((f) => {
      const b = parseMessage(f).bareLf ? toCrlf(f) : f;
      const s = parseMessage(b);
      return { BODY: fold(messageText(b, s, "BODY")), TEXT: fold(messageText(b, s, "TEXT")) };
    });
    let answered = 0, matched = 0, acrossSeam = 0;
    const all = texts.flatMap((t) => [t.BODY, t.TEXT]);
    for (const raw of needles(r, all, 400)) {
      const needle = fold(raw);
      for (const which of ["BODY", "TEXT"] as const) {
        const q = ftsQuery(which, needle);
        if (!q) continue; // scanned: the same code as without an index
        answered++;
        const hits = new Set(db.query(q.match));
        matched += hits.size;
        if (which === "TEXT" && needle.includes(" ")) {
          const viaSeam = new Set(db.query(q.match.replace("{h b s}", "{h b}")));
          acrossSeam += hits.size - viaSeam.size;
        }
        for (let i = 0; i < texts.length; i++) {
          const scanned = texts[i][which].includes(needle);
          const viaIndex = hits.has(i + 1) && (q.exact || scanned);
          if (viaIndex !== scanned) {
            const what = `${which} ${JSON.stringify(needle)} message ${i + 1}`;
            throw new Error(`${what}: index ${viaIndex}, scan ${scanned}`);
          }
        }
      }
    }
    ok(answered > 600, `only ${answered} needles went through the index`);
    ok(matched > 2000, `only ${matched} hits`);
    ok(acrossSeam > 2, `only ${acrossSeam} hits across the header/body seam`);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fts: a needle across the header/body seam and one longer than it", () => {
  const msg = enc.encode("Subject: Alpha Omega\r\n\r\nBeta gamma\r\n");
  const c = ftsColumns(msg);
  equal(c.s, "subject: alpha omega beta gamma ");
  ok(ftsQuery("TEXT", "omega beta")!.exact);
  equal(ftsQuery("TEXT", "x".repeat(SEAM + 2)), null);
  ok(ftsQuery("BODY", "x".repeat(SEAM + 2)));
  equal(ftsQuery("BODY", "ab"), null);
  equal(ftsQuery("BODY", "😀a"), null); // two characters, three UTF-16 units
  equal(ftsQuery("BODY", "a\ufffdb")!.exact, false);
  equal(ftsQuery("BODY", 'say "hi"')!.match, 'b : "say ""hi"""');
});

function docs(db: FtsDb): { indexed: number[]; skipped: number[] } {
  const d = db.docs();
  return { indexed: [...d.indexed], skipped: d.skipped };
}

Deno.test("fts: an index of another format or UIDVALIDITY, or unreadable, is made again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-db-" });
  const path = join(dir, "x.sqlite");
  const file = join(dir, "1.eml");
  try {
    await Deno.writeFile(file, enc.encode("Subject: s\r\n\r\nhello world\r\n"));
    let db = FtsDb.open(path, 1);
    db.index([{ uid: 1, path: file }, { uid: 2, path: join(dir, "gone.eml") }]);
    deepStrictEqual(docs(db), { indexed: [1], skipped: [] });
    deepStrictEqual([...db.query('b : "lo wor"')], [1]);
    // Asked again (a repeated request): reported as indexed, not indexed twice.
    deepStrictEqual(db.index([{ uid: 1, path: file }]).indexed, [1]);
    deepStrictEqual([...db.query('b : "lo wor"')], [1]);
    db.close();
    db = FtsDb.open(path, 1); // kept across a restart
    deepStrictEqual([...db.query('b : "lo wor"')], [1]);
    db.remove([1]);
    deepStrictEqual([...db.query('b : "lo wor"')], []);
    db.index([{ uid: 1, path: file }]);
    db.close();
    db = FtsDb.open(path, 2); // another UIDVALIDITY
    deepStrictEqual(docs(db), { indexed: [], skipped: [] });
    db.close();
    db = FtsDb.open(path, 2);
    db.index([{ uid: 9, path: file }]);
    db.close();
    const raw = new DatabaseSync(path);
    raw.exec(`UPDATE meta SET v = ${FTS_FORMAT + 1} WHERE k = 'format'`);
    raw.close();
    db = FtsDb.open(path, 2); // a format this version does not know
    deepStrictEqual(docs(db), { indexed: [], skipped: [] });
    db.index([{ uid: 5, path: file }]);
    deepStrictEqual(docs(db), { indexed: [5], skipped: [] });
    db.close();
    for (const s of ["-wal", "-shm"]) await Deno.remove(path + s).catch(() => {});
    await Deno.writeFile(path, enc.encode("this is not a database ".repeat(200)));
    db = FtsDb.open(path, 2); // unreadable
    deepStrictEqual(docs(db), { indexed: [], skipped: [] });
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fts: an index of format 1 (a docs row per message) is migrated, not rebuilt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-v1-" });
  const path = join(dir, "x.sqlite");
  try {
    // The layout format 1 wrote (db.ts before the bitmaps), with two messages indexed
    // (UIDs 3 and 5000: two bitmap rows) and one left to scanning.
    const raw = new DatabaseSync(path);
    raw.exec(`
      CREATE TABLE meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
      CREATE TABLE docs (uid INTEGER PRIMARY KEY, state INTEGER NOT NULL);
      CREATE VIRTUAL TABLE fts USING fts5(h, b, s,
        tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
      INSERT INTO meta VALUES ('format', 1), ('uidvalidity', 7), ('instance', 'old-one');
      INSERT INTO docs VALUES (3, 1), (5000, 1), (4, 2);
      INSERT INTO fts (rowid, h, b, s) VALUES (3, 'subject: x', 'hello world', ''),
        (5000, 'subject: y', 'other words', '');`);
    raw.close();
    const db = FtsDb.open(path, 7);
    try {
      equal(db.instance, "old-one", "the same file, kept");
      deepStrictEqual(docs(db), { indexed: [3, 5000], skipped: [4] });
      deepStrictEqual([...db.query('b : "lo wor"')], [3]);
      db.remove([3, 4]);
      deepStrictEqual(docs(db), { indexed: [5000], skipped: [] });
      deepStrictEqual([...db.query('b : "lo wor"')], []);
    } finally {
      db.close();
    }
    const check = new DatabaseSync(path, { readOnly: true });
    equal(check.prepare("SELECT v FROM meta WHERE k = 'format'").get()!.v, FTS_FORMAT);
    check.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
