/**
 * The Sender Rewriting Scheme (SPEC §8) for forwarded mail: the envelope sender of a copy
 * sent on to another host becomes an address in the forwarding domain, so SPF passes at
 * the next hop (RFC 7208 §1.2.3 names the problem), and a bounce to it comes back here to
 * be reversed to the original sender.
 *
 *   SRS0=<hash>=<tt>=<domain>=<local>@<forwarding domain>
 *
 * as libsrs2 and postsrsd write it: tt is the day number (mod 1024) in two base32
 * characters, hash the first 4 base64 characters of an HMAC-SHA256 over tt, domain and
 * local part (case-folded) with a secret kept in `DirBase/srs.secret` (mode 0600, made at
 * first start). An address is valid for 21 days; hashes are compared ignoring case,
 * because some relays fold the local part.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { readTextIfExists, writeFileAtomic } from "../store/fsutil.ts";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
/** SPEC §8: an SRS address is valid 21 days. */
export const SRS_MAX_AGE_DAYS = 21;

/** The secret's file under DirBase on a single machine. */
export const SRS_SECRET_FILE = "srs.secret";

/** A new secret: 32 random bytes as hex text. */
export function newSrsSecret(): string {
  return Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, "0")).join("");
}

export type SrsReversal =
  | { kind: "original"; address: string }
  | { kind: "invalid"; reason: string }
  | { kind: "not-srs" };

const SRS0 = /^srs0=([^=]+)=([^=]+)=([^=]+)=(.+)$/i;

export class Srs {
  readonly #secret: Uint8Array;

  constructor(secret: Uint8Array) {
    this.#secret = secret;
  }

  /** Loads `DirBase/srs.secret`, creating it (32 random bytes, hex) the first time. */
  static async open(dirBase: string): Promise<Srs> {
    const path = join(dirBase, SRS_SECRET_FILE);
    let text = (await readTextIfExists(path))?.trim();
    if (!text) {
      text = newSrsSecret();
      await writeFileAtomic(path, text + "\n");
    }
    return Srs.fromText(text);
  }

  /** The secret as stored (hex text; a shared directory keeps the same text, SPEC §12). */
  static fromText(text: string): Srs {
    return new Srs(new TextEncoder().encode(text.trim()));
  }

  #hash(tt: string, domain: string, local: string): string {
    return createHmac("sha256", this.#secret)
      .update(`${tt}${domain}${local}`.toLowerCase())
      .digest("base64")
      .slice(0, 4);
  }

  /** The SRS0 address for `sender` forwarded by `forwardingDomain`. */
  forward(sender: string, forwardingDomain: string, now = Date.now()): string {
    const at = sender.lastIndexOf("@");
    const local = sender.slice(0, at);
    const domain = sender.slice(at + 1);
    const day = Math.floor(now / DAY_MS) % 1024;
    const tt = BASE32[day >> 5] + BASE32[day & 31];
    return `SRS0=${this.#hash(tt, domain, local)}=${tt}=${domain}=${local}@${forwardingDomain}`;
  }

  /** The original sender of an SRS0 local part, or why it is not valid. */
  reverse(localPart: string, now = Date.now()): SrsReversal {
    const m = SRS0.exec(localPart);
    if (!m) return { kind: "not-srs" };
    const [, hash, tt, domain, local] = m;
    const t = tt.toUpperCase();
    const day = BASE32.indexOf(t[0]) * 32 + BASE32.indexOf(t[1]);
    if (t.length !== 2 || BASE32.indexOf(t[0]) < 0 || BASE32.indexOf(t[1]) < 0) {
      return { kind: "invalid", reason: "malformed SRS timestamp" };
    }
    const today = Math.floor(now / DAY_MS) % 1024;
    if ((today - day + 1024) % 1024 > SRS_MAX_AGE_DAYS) {
      return { kind: "invalid", reason: "SRS address expired" };
    }
    const expected = new TextEncoder().encode(this.#hash(t, domain, local).toLowerCase());
    const given = new TextEncoder().encode(hash.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { kind: "invalid", reason: "SRS hash does not match" };
    }
    return { kind: "original", address: `${local}@${domain}` };
  }
}

/** True for local parts this server would have written as SRS (SRS0=...). */
export function isSrsLocalPart(localPart: string): boolean {
  return /^srs[01]=/i.test(localPart);
}
