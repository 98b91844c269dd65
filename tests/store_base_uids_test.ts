/**
 * src/store/folder/base_uids.ts, the UID list's base names as bytes, against a Map doing
 * the same (the list's former form): lookups, overrides, growth across many names,
 * names beyond ASCII, the empty name; and src/store/folder/uidlist.ts reading a file into
 * it byte by byte against the former reading of the decoded text (M lines, bad UIDs,
 * lines without a space, a torn last line, a byte order mark, invalid UTF-8), whole and
 * as a tail appended by another process.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { BaseUids } from "../src/store/folder/base_uids.ts";
import { readUidList, UIDLIST, UidListCache } from "../src/store/folder/uidlist.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("base uids: the same answers as a Map, over growth and overrides", () => {
  const t = new BaseUids(), m = new Map<string, number>();
  const names = ["", "a", "é", "1700000000.M1P1.host,S=10", "hôst.ü€😀", "a b", "a\r", "\ufeffb"];
  for (let i = 0; i < 5000; i++) names.push(`${1796680000 + i}.M${i * 7}P8383Q${i}.vm,S=${i}`);
  let seed = 1;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  for (let k = 0; k < 20000; k++) {
    const name = names[rand(names.length)], uid = rand(1 << 30) + 1;
    t.set(name, uid);
    m.set(name, uid);
    const probe = names[rand(names.length)] + (rand(3) === 0 ? "x" : "");
    equal(t.get(probe), m.get(probe));
    equal(t.has(probe), m.has(probe));
  }
  equal(t.size, m.size);
  deepStrictEqual([...t], [...m]);
  t.set("big", 2 ** 32 + 5); // kept as given, as a Map keeps it
  equal(t.get("big"), 2 ** 32 + 5);
  const bom = new BaseUids().set("\ufeffb", 1).set("b", 2);
  deepStrictEqual([...bom], [["\ufeffb", 1], ["b", 2]]);
});

Deno.test("base uids: names taken from a block, hashed on the next lookup, as sets in order", () => {
  const t = new BaseUids(), m = new Map<string, number>();
  const lines: string[] = [];
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  for (let block = 0; block < 30; block++) {
    lines.length = 0;
    for (let k = rand(3000); k > 0; k--) {
      const name = `${rand(4000)}.M${rand(9)}P1.host a,S=${rand(3)}`, uid = rand(1e6) + 1;
      lines.push(`${uid} ${name}\n`);
      m.set(name, uid);
    }
    const text = enc(`junk\n${lines.join("")}tail`);
    const shift = t.block(text, 5, text.length - 4);
    for (let at = 5; at < text.length - 4;) {
      const space = text.indexOf(0x20, at), end = text.indexOf(0x0a, at);
      t.addAt(
        space + 1 + shift,
        end + shift,
        Number(new TextDecoder().decode(text.slice(at, space))),
      );
      at = end + 1;
    }
    if (block % 3 === 0) {
      const name = `${rand(4000)}.M${rand(9)}P1.host a,S=${rand(3)}`;
      t.set(name, block);
      m.set(name, block);
    }
    if (block % 2 === 0) equal(t.size, m.size);
  }
  deepStrictEqual([...t], [...m]);
  for (const name of m.keys()) equal(t.get(name), m.get(name));
  equal(t.get("0.M0P1.host a,S=9"), undefined);
});

/** uidlist.ts's reading before the bytes: the decoded text split into lines. */
function oldParse(text: string) {
  const nl = text.indexOf("\n");
  const h = /^extremail-uidlist 1 V(\d+) N(\d+)(?: M(\d+))?/.exec(text.slice(0, nl));
  if (!h) return null;
  const list = {
    uidValidity: Number(h[1]),
    uidNext: Number(h[2]),
    byBase: new Map<string, number>(),
    lines: 1,
    modseqCeiling: h[3] ? Number(h[3]) : 0,
  };
  const lines = text.split("\n"), complete = text.endsWith("\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (i === lines.length - 1 && !complete) continue;
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    if (line.startsWith("M ")) {
      const m = Number(line.slice(2));
      if (Number.isSafeInteger(m) && m > list.modseqCeiling) list.modseqCeiling = m;
      continue;
    }
    const uid = Number(line.slice(0, space));
    if (!Number.isSafeInteger(uid) || uid <= 0) continue;
    list.byBase.set(line.slice(space + 1), uid);
    if (uid >= list.uidNext) list.uidNext = uid + 1;
  }
  list.lines += lines.length - (complete ? 1 : 0) - 1;
  return list;
}

const BODY = [
  "1 1700000000.M1P1.host,S=10",
  "2 1700000001.Mé2P1.hôst,S=12",
  "M 40",
  "M x",
  "3 a b",
  "x 4.bad",
  "0 zero",
  "-1 neg",
  " 5 lead",
  "5",
  "6 ",
  "007 padded",
  "1e1 exp",
  "0x10 hex",
  "99999999999999999 unsafe",
  "8 a\r",
  "1 1700000000.M1P1.host,S=10",
  "9 M",
  "M  7",
].join("\n");

Deno.test("uid list: read as bytes, the same list as the decoded text gave", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-baseuids-" });
  try {
    const header = "extremail-uidlist 1 V7 N3 M12\n";
    const bad = new Uint8Array([...enc("10 bad"), 0xff, 0xe2, ...enc(".x\n11 ok\n")]);
    const files: Uint8Array[] = [
      enc(header + BODY + "\n"),
      enc(header + BODY + "\n12 torn"),
      enc(header + BODY),
      new Uint8Array([...enc(header), ...bad]),
      // Lines without a space in a row (the space searched for once for all of them).
      enc(header + "nospace\nnone\n\n13 after\nx\n" + BODY + "\nend\n"),
    ];
    for (const bytes of files) {
      await Deno.writeFile(join(dir, UIDLIST), bytes);
      const got = (await readUidList(dir))!, want = oldParse(new TextDecoder().decode(bytes))!;
      deepStrictEqual([...got.byBase], [...want.byBase]);
      deepStrictEqual(
        [got.uidValidity, got.uidNext, got.lines, got.modseqCeiling],
        [want.uidValidity, want.uidNext, want.lines, want.modseqCeiling],
      );
    }
    await Deno.writeFile(join(dir, UIDLIST), new Uint8Array([0xef, 0xbb, 0xbf, ...enc(header)]));
    equal((await readUidList(dir))?.uidValidity, 7, "a byte order mark, as the decoder read it");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uid list: a tail appended by another process is read as the whole file is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-baseuids-" });
  try {
    const path = join(dir, UIDLIST);
    await Deno.writeTextFile(path, "extremail-uidlist 1 V7 N3\n1 one\n");
    const cache = new UidListCache(dir);
    await cache.sync();
    await Deno.writeTextFile(path, BODY + "\n20 torn", { append: true });
    const list = (await cache.sync())!;
    const want = oldParse(`extremail-uidlist 1 V7 N3\n1 one\n${BODY}\n`)!;
    deepStrictEqual([...list.byBase], [...want.byBase]);
    equal(list.uidNext, want.uidNext);
    equal(list.byBase.get("torn"), undefined);
    await Deno.writeTextFile(path, "-x\n21 é\n", { append: true });
    const later = (await cache.sync())!;
    equal(later.byBase.get("torn-x"), 20, "the torn line read once it ended");
    equal(later.byBase.get("é"), 21);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uid list: a first read's names are in the list after appendConsecutive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-baseuids-" });
  try {
    await Deno.writeTextFile(join(dir, UIDLIST), "extremail-uidlist 1 V7 N3\n1 one\n2 two");
    const cache = new UidListCache(dir);
    await cache.sync();
    const odd = ["a\nb", "é\n"];
    for (const bases of [["x", "y z", "ü", "x"], odd]) {
      const list = cache.list!, first = list.uidNext;
      list.uidNext += bases.length;
      await cache.appendConsecutive(first, bases);
      bases.forEach((b, i) => {
        if (b !== "x" || i === 3) equal(list.byBase.get(b), first + i, b);
      });
    }
    equal(cache.list!.byBase.get("two"), undefined, "the torn line was not read");
    equal(cache.list!.byBase.get("one"), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uid list: compacted when most of its lines are dead, live and reserved ones kept", async () => {
  const { MailStore } = await import("../src/store/mailstore.ts");
  const { Folder } = await import("../src/store/folder/folder.ts");
  const base = await Deno.makeTempDir({ prefix: "extremail-baseuids-" });
  try {
    const store = new MailStore(base, 2);
    const root = store.userRoot({ name: "Joe", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    const msg = (n: number) => enc(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);
    for (let i = 1; i <= 2; i++) await store.deliver([{ root }], msg(i));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    deepStrictEqual([...inbox.messages.keys()], [1, 2]);
    // Another process's lines: 1,200 names that are gone, and one UID reserved above.
    const dead = Array.from({ length: 1200 }, (_, i) => `1 dead.${i}\n`).join("");
    await Deno.writeTextFile(join(inbox.path, UIDLIST), `${dead}900 reserved.x\n`, {
      append: true,
    });
    await store.deliver([{ root }], msg(3));
    const again = new Folder(inbox.path);
    await again.refresh();
    deepStrictEqual([...again.messages.keys()], [1, 2, 901]);
    const lines = (await Deno.readTextFile(join(inbox.path, UIDLIST))).trimEnd().split("\n");
    equal(lines.length, 5, "the header, three messages and the reserved UID");
    deepStrictEqual(lines.slice(1).map((l) => l.split(" ")[0]).sort(), ["1", "2", "900", "901"]);
    const list = (await readUidList(inbox.path))!;
    equal(list.byBase.get("reserved.x"), 900);
    equal(list.byBase.get("dead.7"), undefined);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
