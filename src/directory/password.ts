/**
 * Salted password hashes (scrypt, node:crypto). Only hashes are ever stored
 * (SPEC §7). Format: `scrypt$N$r$p$<salt b64>$<hash b64>`.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";

const N = 16384, R = 8, P = 1, KEYLEN = 32;

// scrypt is memory-hard by design (128 * N * r bytes: 16 MiB here) and CPU-bound, so
// running more at once than there are cores only multiplies the memory a login storm
// takes (and the allocator keeps it) without finishing any sooner.
const MAX_PARALLEL = Math.max(2, availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];

async function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number) {
  if (running >= MAX_PARALLEL) await new Promise<void>((go) => waiting.push(go));
  else running++;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(password, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) => {
        if (err) reject(err);
        else resolve(key);
      });
    });
  } finally {
    const next = waiting.shift();
    if (next) next(); // the slot passes on
    else running--;
  }
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

// A process-local memo of successful checks, keyed by the stored hash and holding a
// keyed digest of the password: a mail client that logs in every minute should not
// cost a full scrypt each time. The memo never leaves memory and a changed hash
// (new password) misses it.
const memoSecret = randomBytes(32);
const verified = new Map<string, Buffer>();
const MEMO_LIMIT = 10_000;

function memoDigest(password: string): Buffer {
  return createHash("sha256").update(memoSecret).update(password).digest();
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const memo = verified.get(stored);
  if (memo && timingSafeEqual(memo, memoDigest(password))) return true;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  const key = await scryptAsync(password, salt, n, r, p);
  const ok = key.length === expected.length && timingSafeEqual(key, expected);
  if (ok) {
    if (verified.size >= MEMO_LIMIT) verified.clear();
    verified.set(stored, memoDigest(password));
  }
  return ok;
}

/** A random password for first start (SPEC §2), easy to type. */
export function randomPassword(): string {
  return randomBytes(12).toString("base64url");
}
