import { assert, assertEquals, assertRejects, assertThrows } from "./helpers/assert.ts";
import { Directory, normalizeUserDir } from "../src/directory/directory.ts";
import { DirectoryError } from "../src/directory/records.ts";
import { normalizeDomain, normalizeLocalPart, parseAddress } from "../src/directory/names.ts";
import { hashPassword, needsRehash, verifyPassword } from "../src/directory/password.ts";
import { randomBytes, scryptSync } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "extremail-dir-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("names: domains are validated and lower-cased", () => {
  assertEquals(normalizeDomain("Example.COM"), "example.com");
  assertEquals(normalizeDomain("bücher.example"), "xn--bcher-kva.example");
  for (const bad of ["", "a..b", "-a.com", "a_b.com", "../etc", "a/b", "x".repeat(64) + ".com"]) {
    assertThrows(() => normalizeDomain(bad));
  }
});

Deno.test("names: local parts follow RFC 5321 dot-atom and never contain a path", () => {
  assertEquals(normalizeLocalPart("John.Smith"), "john.smith");
  for (const bad of ["", ".a", "a.", "a..b", "a/b", "..", "a b", "x".repeat(65), "a\0b"]) {
    assertThrows(() => normalizeLocalPart(bad), Error, undefined, bad);
  }
  assertEquals(parseAddress("Joe@Example.com"), { local: "Joe", domain: "example.com" });
  assertEquals(parseAddress('"a b"@x.org').local, '"a b"');
  assertThrows(() => parseAddress("nodomain"));
});

Deno.test("passwords are salted scrypt hashes", async () => {
  const a = await hashPassword("secret");
  const b = await hashPassword("secret");
  assert(a.startsWith("scrypt$") && a !== b, "salted");
  assert(!a.includes("secret"));
  assert(await verifyPassword("secret", a));
  assert(!(await verifyPassword("Secret", a)));
  assert(await verifyPassword("secret", a), "memoized check still right");
});

Deno.test("the directory file with its password hashes is readable by the server only", async () => {
  await withDir(async (dir) => {
    const base = join(dir, "data");
    // A file an older version left world-readable is tightened at open too.
    await Deno.mkdir(base, { mode: 0o750 });
    const old = new DatabaseSync(join(base, "directory.sqlite"));
    old.close();
    await Deno.chmod(join(base, "directory.sqlite"), 0o644);
    const d = Directory.open(base);
    try {
      await d.addDomain("example.com");
      await d.addUser({ name: "joe", domain: "example.com", password: "pw" });
      for (const name of ["directory.sqlite", "directory.sqlite-wal"]) {
        assertEquals((await Deno.stat(join(base, name))).mode! & 0o777, 0o600, name);
      }
    } finally {
      await d.close();
    }
  });
});

Deno.test("DIR overrides cannot leave DirBase", () => {
  assertEquals(normalizeUserDir("custom/joe/"), "custom/joe");
  for (const bad of ["/etc", "../x", "a/../../b", "", "."]) {
    assertThrows(() => normalizeUserDir(bad), DirectoryError);
  }
});

Deno.test("directory: CRUD, persistence and resolution", async () => {
  await withDir(async (base) => {
    let d = Directory.open(base);
    await d.addDomain("Example.com");
    await assertRejects(() => d.addDomain("example.com"), DirectoryError, "already exists");
    const u = await d.addUser({ name: "Joe", domain: "example.com", password: "pw", quota: 1000 });
    assertEquals(u.name, "joe");
    await assertRejects(() => d.addUser({ name: "joe", domain: "example.com" }), DirectoryError);
    await assertRejects(() => d.addUser({ name: "x", domain: "nope.com" }), DirectoryError);
    await d.modUser("joe", "example.com", { forward: ["a@b.org"], keep: true, map: "JoeLogin" });
    await d.addAlias("info", "example.com", ["joe@example.com"]);
    await d.addAlias("*", "example.com", ["joe@example.com"]);
    await d.addList("team", "example.com", "MEMBERS");
    await d.addMember("team", "example.com", "joe@example.com");
    await d.addDeny("IPIN", "10.0.0.0/8");
    await d.addDeny("DOMAININ", "spam.example");
    await d.close();

    d = Directory.open(base); // everything survives a restart
    const joe = d.getUser("JOE", "EXAMPLE.COM")!;
    assertEquals(joe.forward, ["a@b.org"]);
    assertEquals(joe.keep, true);
    assertEquals(d.findLogin("joelogin")?.name, "joe");
    assertEquals(d.findLogin("joe@example.com")?.name, "joe");
    assertEquals((await d.authenticate("JoeLogin", "pw"))?.name, "joe");
    assertEquals(await d.authenticate("joe@example.com", "bad"), undefined);
    assertEquals(d.resolveLocal("info", "example.com").kind, "alias");
    assertEquals(d.resolveLocal("team", "example.com").kind, "list");
    assertEquals(d.resolveLocal("whoever", "example.com").kind, "catchall");
    assertEquals(d.resolveLocal("joe", "other.com").kind, "unknown");
    assertEquals(d.getList("team", "example.com")?.members, ["joe@example.com"]);
    assert(d.isDenied("IPIN", "10.1.2.3"));
    assert(d.isDenied("IPIN", "::ffff:10.1.2.3"));
    assert(!d.isDenied("IPIN", "11.1.2.3"));
    assert(d.isDenied("DOMAININ", "mx.spam.example"));
    assert(!d.isDenied("DOMAININ", "notspam.example"));
    await assertRejects(
      () => d.addAlias("joe", "example.com", ["x@y.z"]),
      DirectoryError,
      "already",
    );
    await assertRejects(
      () => d.delDeny("IPIN", "192.168.0.0/16"),
      DirectoryError,
      "does not exist",
    );
    assertEquals(await d.delDeny("IPIN"), 1);
    const removed = await d.delDomain("example.com");
    assertEquals(removed.map((r) => r.name), ["joe"]);
    assertEquals(d.findLogin("joelogin"), undefined);
    assertEquals(d.aliases().length, 0);
    await d.close();
  });
});

Deno.test("directory: MAP names are unique on the server", async () => {
  await withDir(async (base) => {
    const d = Directory.open(base);
    await d.addDomain("a.org");
    await d.addDomain("b.org");
    await d.addUser({ name: "x", domain: "a.org" });
    await d.addUser({ name: "y", domain: "b.org" });
    await d.modUser("x", "a.org", { map: "shared" });
    await assertRejects(() => d.modUser("y", "b.org", { map: "shared" }), DirectoryError);
    await assertRejects(() => d.modUser("y", "b.org", { map: "x@a.org" }), DirectoryError);
    await d.modUser("x", "a.org", { map: "" });
    await d.modUser("y", "b.org", { map: "shared" });
    assertEquals(d.findLogin("shared")?.domain, "b.org");
    await d.close();
  });
});

Deno.test("directory: concurrent changes are never torn", async () => {
  await withDir(async (base) => {
    const d = Directory.open(base);
    await d.addDomain("c.org");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => d.addUser({ name: `u${i}`, domain: "c.org" })),
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      Promise.all([
        d.modUser(`u${i}`, "c.org", { quota: i + 1 }),
        d.modUser(`u${i}`, "c.org", { keep: true }),
      ])));
    for (let i = 0; i < 20; i++) {
      const u = d.getUser(`u${i}`, "c.org")!;
      assertEquals([u.quota, u.keep], [i + 1, true]);
    }
    await d.close();
  });
});

/** A hash as the server wrote them before N=2^17 (N=2^14, r=8, p=1). */
function oldHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 << 20 });
  return `scrypt$16384$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
}

Deno.test("passwords: new hashes use N=2^17; older ones verify and are re-hashed on login", async () => {
  const fresh = await hashPassword("pw");
  assert(fresh.startsWith("scrypt$131072$8$1$"), fresh);
  assert(!needsRehash(fresh));
  await withDir(async (base) => {
    let d = Directory.open(base);
    await d.addDomain("example.com");
    await d.addUser({ name: "old", domain: "example.com" });
    await d.close();
    const db = new DatabaseSync(join(base, "directory.sqlite"));
    const stored = oldHash("old-secret");
    db.prepare("UPDATE users SET pass = ? WHERE name = 'old'").run(stored);
    db.close();

    d = Directory.open(base);
    assert(needsRehash(d.getUser("old", "example.com")!.passHash));
    assertEquals(await d.authenticate("old@example.com", "wrong"), undefined);
    await d.rehashed();
    assertEquals(d.getUser("old", "example.com")!.passHash, stored, "a failure changes nothing");
    assert(await d.authenticate("old@example.com", "old-secret"), "the old hash verifies");
    await d.rehashed();
    const upgraded = d.getUser("old", "example.com")!.passHash;
    assert(upgraded.startsWith("scrypt$131072$8$1$"), upgraded);
    await d.close();

    d = Directory.open(base); // durable
    assertEquals(d.getUser("old", "example.com")!.passHash, upgraded);
    assert(await d.authenticate("old@example.com", "old-secret"));
    assertEquals(await d.authenticate("missing@example.com", "x"), undefined);
    await d.close();
  });
});

Deno.test("directory: NODE is stored, validated, and added to a file from before SPEC §12", async () => {
  await withDir(async (base) => {
    // A directory.sqlite as earlier versions made it: no node column.
    const old = new DatabaseSync(join(base, "directory.sqlite"));
    old.exec(`CREATE TABLE domains (name TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE users (domain TEXT NOT NULL, name TEXT NOT NULL, dir TEXT NOT NULL DEFAULT '',
        pass TEXT NOT NULL DEFAULT '', quota INTEGER NOT NULL DEFAULT 0,
        maxin INTEGER NOT NULL DEFAULT 0, maxout INTEGER NOT NULL DEFAULT 0,
        forward TEXT NOT NULL DEFAULT '[]', keep INTEGER NOT NULL DEFAULT 0,
        copy TEXT NOT NULL DEFAULT '', autoreply INTEGER NOT NULL DEFAULT 0,
        ar_subject TEXT NOT NULL DEFAULT '', ar_text TEXT NOT NULL DEFAULT '',
        map TEXT NOT NULL DEFAULT '', PRIMARY KEY (domain, name)) WITHOUT ROWID;
      INSERT INTO domains VALUES ('old.test');
      INSERT INTO users (domain, name) VALUES ('old.test', 'ann');`);
    old.close();
    let d = Directory.open(base);
    assertEquals(d.getUser("ann", "old.test")?.node, "");
    const bob = await d.addUser({ name: "bob", domain: "old.test", node: "MX2" });
    assertEquals(bob.node, "mx2");
    await assertRejects(
      () => d.addUser({ name: "carl", domain: "old.test", node: "m x" }),
      DirectoryError,
      "not a node name",
    );
    await d.modUser("ann", "old.test", { node: "mx1" });
    await d.close();
    d = Directory.open(base);
    assertEquals([d.getUser("ann", "old.test")?.node, d.getUser("bob", "old.test")?.node], [
      "mx1",
      "mx2",
    ]);
    await d.close();
  });
});
