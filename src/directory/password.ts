/**
 * Salted password hashes (scrypt, node:crypto). Only hashes are ever stored
 * (SPEC §7). Format: `scrypt$N$r$p$<salt b64>$<hash b64>`.
 *
 * New hashes use N=2^17, r=8, p=1 (OWASP's scrypt minimum). Hashes made with other
 * parameters (N=2^14 before) still verify; needsRehash() tells the directory to replace
 * them after the next successful login.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";

const N = 131072, R = 8, P = 1, KEYLEN = 32;

/**
 * Stored parameters beyond these are refused rather than run: a hash is written only by
 * this module, and a forged one must not make a login allocate gigabytes.
 */
const MAX_N = 1 << 20, MAX_R = 16, MAX_P = 4;

// scrypt is memory-hard by design (128 * N * r bytes: 128 MiB here, taken for the length
// of one check) and CPU-bound, so running more at once than there are cores only multiplies
// the memory a login storm takes without finishing any sooner. At most one per core, and
// at most 4 in all: a login storm on a large machine costs 512 MiB at most.
const MAX_PARALLEL = Math.max(1, Math.min(4, availableParallelism()));
let running = 0;
const waiting: (() => void)[] = [];

async function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number) {
  if (running >= MAX_PARALLEL) await new Promise<void>((go) => waiting.push(go));
  else running++;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      // node's default maxmem (32 MiB) is below what N=2^17, r=8 needs (128 MiB).
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

function remember(stored: string, password: string): void {
  if (verified.size >= MEMO_LIMIT) verified.clear();
  verified.set(stored, memoDigest(password));
}

interface Parsed {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  expected: Buffer;
}

function parseHash(stored: string): Parsed | null {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const valid = Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0 && n <= MAX_N &&
    Number.isInteger(r) && r >= 1 && r <= MAX_R && Number.isInteger(p) && p >= 1 && p <= MAX_P;
  if (!valid) return null;
  return {
    n,
    r,
    p,
    salt: Buffer.from(parts[4], "base64"),
    expected: Buffer.from(parts[5], "base64"),
  };
}

// Checks under way, by what they compute (the hash, and a keyed digest of the password):
// the same password against the same hash at the same time (a mail client opening its
// four IMAP connections at once) runs one scrypt, not one per connection, which cost
// 128 MiB each while they ran (bench hostile: 4 logins took the daemon from 104 to 361
// MiB). Missing accounts share theirs likewise (dummyVerify), so that sharing tells
// nothing about whether an account exists.
const underWay = new Map<string, Promise<boolean>>();

function shared(key: string, check: () => Promise<boolean>): Promise<boolean> {
  let running = underWay.get(key);
  if (!running) {
    running = check().finally(() => underWay.delete(key));
    underWay.set(key, running);
  }
  return running;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const hash = parseHash(stored);
  if (!hash) return false;
  const digest = memoDigest(password);
  const memo = verified.get(stored);
  if (memo && timingSafeEqual(memo, digest)) return true;
  return await shared(`${stored}\0${digest.toString("base64")}`, async () => {
    const key = await scryptAsync(password, hash.salt, hash.n, hash.r, hash.p);
    const ok = key.length === hash.expected.length && timingSafeEqual(key, hash.expected);
    if (ok) remember(stored, password);
    return ok;
  });
}

/**
 * The work of a failed check against a hash with today's parameters, for a login name
 * without an account (or without a password): SPEC §7, a wrong password for an existing
 * account and any password for a missing one take the same time. Always false.
 */
export async function dummyVerify(password: string): Promise<false> {
  await shared(`\0${memoDigest(password).toString("base64")}`, async () => {
    await scryptAsync(password, randomBytes(16), N, R, P);
    return false;
  });
  return false;
}

/** Checks (scrypt runs) under way now, shared ones counted once (tests). */
export function checksUnderWay(): number {
  return underWay.size;
}

/** True when `stored` was made with other parameters than new hashes get. */
export function needsRehash(stored: string): boolean {
  const hash = parseHash(stored);
  return hash !== null && (hash.n !== N || hash.r !== R || hash.p !== P);
}

/**
 * A hash with today's parameters for a password that was just verified (re-hashing an
 * older hash after a login); the next login with it is answered from the memo.
 */
export async function rehashPassword(password: string): Promise<string> {
  const stored = await hashPassword(password);
  remember(stored, password);
  return stored;
}

/** A random password for first start (SPEC §2), easy to type. */
export function randomPassword(): string {
  return randomBytes(12).toString("base64url");
}
