/**
 * DKIM signing keys (SPEC §4 DKIM ADD/DEL/SHOW, §8): generation (RSA 2048 or Ed25519,
 * RFC 8463), the DNS record to publish (RFC 6376 §3.6.1), and where they are kept.
 *
 * Signing and the admin commands use the `DkimKeyStore` interface only, so a store that
 * shares the keys between several machines (SPEC §12: the directory) can replace the file
 * store without touching them. The file store keeps one JSON file per key,
 * `DirBase/dkim/<domain>/<selector>.json`, mode 0600 in a 0700 directory: readable by the
 * server only. Several keys of one domain: the newest signs (rotation keeps the old one
 * listed, and published, until it is deleted).
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { join } from "node:path";
import type { Buffer } from "node:buffer";
import { ensureDirDurable, syncDir, writeFileAtomic } from "../store/fsutil.ts";

export type DkimKeyType = "rsa" | "ed25519";

export interface DkimKey {
  domain: string;
  selector: string;
  type: DkimKeyType;
  /** Creation time (ms): the newest key of a domain signs. */
  created: number;
  /** PKCS#8 PEM. */
  privateKey: string;
}

export interface DkimKeyStore {
  /** Keys of one domain (or all), newest first within a domain. */
  list(domain?: string): DkimKey[];
  /** The key that signs for `domain`: its newest. */
  active(domain: string): DkimKey | undefined;
  /** Creates and stores a key; durable when it resolves. Throws DkimKeyError. */
  add(domain: string, selector: string, type: DkimKeyType, now?: number): Promise<DkimKey>;
  /** Removes a key; false when there is none. */
  remove(domain: string, selector: string): Promise<boolean>;
}

/** A refusal the admin sees as it is (names the key and the fix). */
export class DkimKeyError extends Error {}

/** RFC 6376 §3.1: a selector is dot-separated sub-domain labels. */
const SELECTOR =
  /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function checkSelector(selector: string): string {
  const s = selector.toLowerCase();
  if (!SELECTOR.test(s) || s.length > 63) {
    throw new DkimKeyError(
      `SELECTOR=${selector} is not a DNS label (letters, digits, hyphens, dots), e.g. x20250101`,
    );
  }
  return s;
}

/** SPEC §8: the default selector is `x<yyyymmdd>` (UTC). */
export function defaultSelector(now = Date.now()): string {
  return `x${new Date(now).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** A new private key of `type`, as PKCS#8 PEM. */
export async function generatePrivateKey(type: DkimKeyType): Promise<string> {
  return (await generate(type)).export({ type: "pkcs8", format: "pem" }) as string;
}

function generate(type: DkimKeyType): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: KeyObject, priv: KeyObject) =>
      err ? reject(err) : resolve(priv);
    if (type === "rsa") generateKeyPair("rsa", { modulusLength: 2048 }, done);
    else generateKeyPair("ed25519", {}, done);
  });
}

/** The p= value: RSA SubjectPublicKeyInfo (RFC 6376 §3.6.1), Ed25519 the raw 32 octets (RFC 8463 §4). */
export function publicKeyValue(key: DkimKey): string {
  const spki = createPublicKey(createPrivateKey(key.privateKey)).export({
    type: "spki",
    format: "der",
  }) as Buffer;
  return (key.type === "ed25519" ? spki.subarray(spki.length - 32) : spki).toString("base64");
}

/** The TXT record to publish, as `DKIM ADD`/`SHOW` print it (SPEC §8). */
export function dnsRecord(key: DkimKey): { name: string; value: string } {
  const k = key.type === "ed25519" ? "ed25519" : "rsa";
  return {
    name: `${key.selector}._domainkey.${key.domain}`,
    value: `v=DKIM1; k=${k}; p=${publicKeyValue(key)}`,
  };
}

/**
 * The keys of every domain in memory, newest first within a domain: what signing reads
 * (`list`, `active`) in every store.
 */
export class KeyTable {
  readonly #keys = new Map<string, DkimKey[]>();

  put(key: DkimKey): void {
    const list = (this.#keys.get(key.domain) ?? []).filter((k) => k.selector !== key.selector);
    list.push(key);
    list.sort((a, b) => b.created - a.created || b.selector.localeCompare(a.selector));
    this.#keys.set(key.domain, list);
  }

  has(domain: string, selector: string): boolean {
    return this.#keys.get(domain)?.some((k) => k.selector === selector) ?? false;
  }

  remove(domain: string, selector: string): void {
    const rest = (this.#keys.get(domain) ?? []).filter((k) => k.selector !== selector);
    if (rest.length) this.#keys.set(domain, rest);
    else this.#keys.delete(domain);
  }

  clear(): void {
    this.#keys.clear();
  }

  list(domain?: string): DkimKey[] {
    if (domain !== undefined) return [...(this.#keys.get(domain) ?? [])];
    return [...this.#keys.keys()].sort().flatMap((d) => this.#keys.get(d)!);
  }

  active(domain: string): DkimKey | undefined {
    return this.#keys.get(domain)?.[0];
  }
}

/** The refusal of a second key with the same selector. */
export function selectorTaken(domain: string, selector: string): DkimKeyError {
  return new DkimKeyError(
    `domain ${domain} already has a key with SELECTOR=${selector}; choose another selector ` +
      `or DKIM DEL it first`,
  );
}

function parseKey(text: string, domain: string, selector: string): DkimKey {
  const v = JSON.parse(text);
  if (
    !v || v.domain !== domain || v.selector !== selector ||
    (v.type !== "rsa" && v.type !== "ed25519") || typeof v.created !== "number" ||
    typeof v.privateKey !== "string"
  ) {
    throw new Error("fields missing or of the wrong type");
  }
  return v;
}

/**
 * Every key file under `DirBase/dkim/` (read-only: migrate-directory copies them); an
 * unreadable file is reported through `warn` and skipped.
 */
export async function readKeyFiles(dirBase: string, warn: (text: string) => void) {
  const dir = join(dirBase, "dkim");
  const keys: DkimKey[] = [];
  let domains: Deno.DirEntry[];
  try {
    domains = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return keys;
    throw e;
  }
  for (const d of domains) {
    if (!d.isDirectory) continue;
    for await (const f of Deno.readDir(join(dir, d.name))) {
      const m = /^(.+)\.json$/.exec(f.name);
      if (!f.isFile || !m) continue;
      const path = join(dir, d.name, f.name);
      try {
        keys.push(parseKey(await Deno.readTextFile(path), d.name, m[1]));
      } catch (e) {
        warn(`DKIM key ${path} is unreadable (${(e as Error).message}); it does not sign`);
      }
    }
  }
  return keys;
}

/** Keys as files under `DirBase/dkim/` (one machine). */
export class FileKeyStore implements DkimKeyStore {
  readonly dir: string;
  readonly #keys = new KeyTable();

  private constructor(dirBase: string) {
    this.dir = join(dirBase, "dkim");
  }

  /** Reads every key; an unreadable file is reported through `warn` and skipped. */
  static async open(dirBase: string, warn: (text: string) => void): Promise<FileKeyStore> {
    const store = new FileKeyStore(dirBase);
    await ensureDirDurable(store.dir, 0o700);
    for (const key of await readKeyFiles(dirBase, warn)) store.#keys.put(key);
    return store;
  }

  list(domain?: string): DkimKey[] {
    return this.#keys.list(domain);
  }

  active(domain: string): DkimKey | undefined {
    return this.#keys.active(domain);
  }

  async add(domain: string, selector: string, type: DkimKeyType, now = Date.now()) {
    const s = checkSelector(selector);
    if (this.#keys.has(domain, s)) throw selectorTaken(domain, s);
    const privateKey = await generatePrivateKey(type);
    const key: DkimKey = { domain, selector: s, type, created: now, privateKey };
    const dir = join(this.dir, domain);
    await ensureDirDurable(dir, 0o700);
    await writeFileAtomic(join(dir, `${s}.json`), JSON.stringify(key));
    this.#keys.put(key);
    return key;
  }

  async remove(domain: string, selector: string): Promise<boolean> {
    const s = selector.toLowerCase();
    if (!this.#keys.has(domain, s)) return false;
    await Deno.remove(join(this.dir, domain, `${s}.json`)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await syncDir(join(this.dir, domain));
    this.#keys.remove(domain, s);
    return true;
  }
}
