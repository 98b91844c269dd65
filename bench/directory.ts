/**
 * Directory load time: Directory.open() with N users (default 100,000), and lookup
 * rate. Users are inserted straight into SQLite with one precomputed password hash
 * (hashing 100,000 passwords with scrypt would take minutes and is not what is measured).
 * Usage: deno run -A bench/directory.ts [--users N]
 * Last line: `directory: load N users in X ms; Y lookups/s`.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Directory } from "../src/directory/directory.ts";
import { hashPassword } from "../src/directory/password.ts";

const { values } = parseArgs({ options: { users: { type: "string", default: "100000" } } });
const count = Number(values.users);
const base = await Deno.makeTempDir({ prefix: "extremail-bench-dir-" });
try {
  Directory.open(base).close(); // creates the schema
  const db = new DatabaseSync(join(base, "directory.sqlite"));
  const hash = await hashPassword("pass");
  db.exec("BEGIN");
  const domains = 100;
  for (let d = 0; d < domains; d++) {
    db.prepare("INSERT INTO domains VALUES (?)").run(`d${d}.example`);
  }
  const insert = db.prepare("INSERT INTO users(domain, name, pass) VALUES (?, ?, ?)");
  for (let i = 0; i < count; i++) insert.run(`d${i % domains}.example`, `user${i}`, hash);
  db.exec("COMMIT");
  db.close();

  const t0 = performance.now();
  const dir = Directory.open(base);
  const loadMs = performance.now() - t0;
  const lookups = 1_000_000;
  const t1 = performance.now();
  let found = 0;
  for (let i = 0; i < lookups; i++) {
    const n = (i * 7919) % count;
    if (dir.getUser(`user${n}`, `d${n % domains}.example`)) found++;
  }
  const rate = lookups / ((performance.now() - t1) / 1000);
  dir.close();
  if (found !== lookups) throw new Error(`lookups found ${found} of ${lookups}`);
  console.log(
    `directory: load ${count} users in ${loadMs.toFixed(0)} ms; ${Math.round(rate)} lookups/s`,
  );
} finally {
  await Deno.remove(base, { recursive: true });
}
