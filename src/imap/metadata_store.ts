/**
 * Where METADATA (RFC 5464) entries live: one small JSON file per user,
 * `extremail-metadata.json` in the Maildir root, holding the server entries and each
 * mailbox's entries (by IMAP name), both /private and /shared (mailboxes are not shared
 * between users here, so both are the user's own). Every change rewrites the file
 * durably (tmp, fsync, rename, directory fsync) under a per-file lock, so concurrent
 * sessions of one user never lose each other's updates and a crash leaves the old or
 * the new file. Values are bytes: UTF-8 text is kept as a string, anything else base64.
 *
 * Limits (RFC 5464 §4.3): a value is at most MAX_VALUE_SIZE octets (MAXSIZE), a user
 * has at most MAX_ENTRIES entries and MAX_TOTAL_SIZE octets of values (TOOMANY).
 */
import { join } from "node:path";
import { Mutex, readTextIfExists, writeFileAtomic } from "../store/fsutil.ts";

export const METADATA_FILE = "extremail-metadata.json";
export const MAX_VALUE_SIZE = 64 * 1024;
export const MAX_ENTRIES = 1000;
export const MAX_TOTAL_SIZE = 1024 * 1024;

/** Entry name -> value, for the server ("") or one mailbox. */
export type Entries = Map<string, Uint8Array>;

interface FileShape {
  version: 1;
  /** Scope ("" for the server, else the mailbox name) -> entry -> value. */
  scopes: Record<string, Record<string, string | { b64: string }>>;
}

/** A change refused by a limit: the IMAP layer turns it into NO [METADATA ...]. */
export class MetadataLimitError extends Error {
  constructor(readonly code: "MAXSIZE" | "TOOMANY", readonly limit?: number) {
    super(code === "MAXSIZE" ? "Value too large" : "Too many metadata entries");
  }
}

const locks = new Map<string, Mutex>();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

function lockFor(path: string): Mutex {
  let m = locks.get(path);
  if (!m) locks.set(path, m = new Mutex());
  return m;
}

function encodeValue(v: Uint8Array): string | { b64: string } {
  if (!v.includes(0)) {
    try {
      return utf8.decode(v);
    } catch { /* not text: base64 below */ }
  }
  let s = "";
  for (const b of v) s += String.fromCharCode(b);
  return { b64: btoa(s) };
}

function decodeValue(v: string | { b64: string }): Uint8Array {
  if (typeof v === "string") return enc.encode(v);
  return Uint8Array.from(atob(v.b64), (c) => c.charCodeAt(0));
}

type Scopes = Map<string, Entries>;

async function load(path: string): Promise<Scopes> {
  const text = await readTextIfExists(path);
  const scopes: Scopes = new Map();
  if (text === null) return scopes;
  let parsed: FileShape;
  try {
    parsed = JSON.parse(text) as FileShape;
  } catch {
    throw new Error(`${path} is not valid JSON; fix or remove it (its entries are lost then)`);
  }
  for (const [scope, entries] of Object.entries(parsed.scopes ?? {})) {
    const m: Entries = new Map();
    for (const [name, value] of Object.entries(entries)) m.set(name, decodeValue(value));
    scopes.set(scope, m);
  }
  return scopes;
}

async function save(path: string, scopes: Scopes): Promise<void> {
  const shape: FileShape = { version: 1, scopes: {} };
  for (const [scope, entries] of scopes) {
    if (entries.size === 0) continue;
    const out: Record<string, string | { b64: string }> = {};
    for (const [name, value] of entries) out[name] = encodeValue(value);
    shape.scopes[scope] = out;
  }
  await writeFileAtomic(path, JSON.stringify(shape));
}

function checkLimits(scopes: Scopes): void {
  let count = 0, total = 0;
  for (const entries of scopes.values()) {
    count += entries.size;
    for (const v of entries.values()) total += v.length;
  }
  if (count > MAX_ENTRIES || total > MAX_TOTAL_SIZE) throw new MetadataLimitError("TOOMANY");
}

/** The user's metadata file: read, change, keep in step with mailbox renames. */
export class MetadataStore {
  readonly #path: string;

  constructor(root: string) {
    this.#path = join(root, METADATA_FILE);
  }

  /** Entries of one scope ("" = server), as stored. */
  async entries(scope: string): Promise<Entries> {
    return (await load(this.#path)).get(scope) ?? new Map();
  }

  /** Every scope's entries (for LIST's special-use lookups). */
  async all(): Promise<Map<string, Entries>> {
    return await load(this.#path);
  }

  /**
   * Sets (value) or removes (null) entries of one scope as one change: all or none.
   * Returns the names whose value actually changed.
   */
  set(scope: string, changes: [string, Uint8Array | null][]): Promise<string[]> {
    return lockFor(this.#path).run(async () => {
      const scopes = await load(this.#path);
      const entries = scopes.get(scope) ?? new Map();
      const changed: string[] = [];
      for (const [name, value] of changes) {
        if (value !== null && value.length > MAX_VALUE_SIZE) {
          throw new MetadataLimitError("MAXSIZE", MAX_VALUE_SIZE);
        }
        const old = entries.get(name);
        if (value === null) {
          if (old !== undefined) {
            entries.delete(name);
            changed.push(name);
          }
        } else if (!old || !sameBytes(old, value)) {
          entries.set(name, value);
          changed.push(name);
        }
      }
      if (changed.length === 0) return changed;
      scopes.set(scope, entries);
      checkLimits(scopes);
      await save(this.#path, scopes);
      return changed;
    });
  }

  /** A mailbox was renamed: its entries and its children's follow it (RFC 5464 §3.2). */
  rename(from: string, to: string): Promise<void> {
    return this.#rewrite((scope) =>
      scope === from || scope.startsWith(from + "/") ? to + scope.slice(from.length) : scope
    );
  }

  /** A mailbox was deleted: its entries go with it. */
  forget(name: string): Promise<void> {
    return this.#rewrite((scope) => (scope === name ? null : scope));
  }

  #rewrite(map: (scope: string) => string | null): Promise<void> {
    return lockFor(this.#path).run(async () => {
      const scopes = await load(this.#path);
      const next: Scopes = new Map();
      let changed = false;
      for (const [scope, entries] of scopes) {
        const to = scope === "" ? "" : map(scope);
        if (to !== scope) changed = true;
        if (to !== null) next.set(to, entries);
      }
      if (changed) await save(this.#path, next);
    });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
