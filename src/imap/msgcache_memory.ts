/**
 * The in-memory level of the parsed-structure cache (msgcache.ts): entries by Maildir base
 * name, oldest dropped first, bounded in entries and in estimated bytes, and per folder an
 * index by UID that lets go of an entry when the cache drops it. Kept apart from
 * MessageData (what a command reads of one message) so each file reads in one sitting.
 */
import type { CacheRow, Folder } from "../store/folder/folder.ts";
import type { MessageStructure } from "../message/mime.ts";

export interface Cached {
  /** Served size (the file's, unless it had bare LFs). */
  size: number;
  /** The file has bare LFs: its bytes are served in CRLF form. */
  crlf: boolean;
  structure?: MessageStructure;
  /** The structure as stored in the index, parsed on first use. */
  structureJson?: string;
  /** The header section (offsets as in the file), kept for SEARCH when small. */
  header?: Uint8Array;
  envelope?: string;
  envelopeUtf8?: string;
  body?: string;
  bodyUtf8?: string;
  bodyStructure?: string;
  bodyStructureUtf8?: string;
  /** Estimated octets this entry holds in memory (costOf), as last counted. */
  cost?: number;
  /** The UID index entries that point at this one (UidIndex), dropped when it leaves. */
  homes?: { entries: Map<number, Cached>; uid: number }[];
}

/**
 * A folder's cache entries by UID, as found by base name before: a UID names one message
 * (whose bytes never change) for as long as the folder's UIDVALIDITY stays (RFC 3501
 * §2.3.1.1). A lookup by UID is one small-integer key, where the base name has to be
 * decoded from the folder's columns and hashed as a string (once per message fetched).
 */
export interface UidIndex {
  validity: number;
  /** clearMessageCache() makes every index made before it stale. */
  generation: number;
  entries: Map<number, Cached>;
}
const uidIndexes = new WeakMap<Folder, UidIndex>();
let generation = 0;
/** UID index entries pointing at cached entries (messageCacheUsage). */
let indexed = 0;

export function uidIndexOf(folder: Folder): UidIndex {
  let index = uidIndexes.get(folder);
  if (
    index === undefined || index.validity !== folder.uidValidity ||
    index.generation !== generation
  ) {
    index = { validity: folder.uidValidity, generation, entries: new Map() };
    uidIndexes.set(folder, index);
  }
  return index;
}

/** An entry left the cache: the UID indexes let go of it too (memory stays bounded). */
function forget(c: Cached): void {
  if (!c.homes) return;
  for (const { entries, uid } of c.homes) {
    if (entries.get(uid) === c) {
      entries.delete(uid);
      indexed--;
    }
  }
  c.homes = undefined;
}

/** Remembers that `uid` of the folder indexed by `index` is the message cached as `c`. */
export function indexUid(index: UidIndex, uid: number, c: Cached): void {
  index.entries.set(uid, c);
  indexed++;
  (c.homes ??= []).push({ entries: index.entries, uid });
}

/** Entries kept in memory (oldest dropped first); a structure is a few hundred bytes. */
const MAX_ENTRIES = 100_000;
/** What the entries may hold in memory together, estimated (oldest dropped first). */
let maxBytes = 64 << 20;
/** Headers up to this size are kept, so header SEARCHes need no file reads. */
export const MAX_CACHED_HEADER = 4096;
/** Entries by base name, oldest first (a Map keeps insertion order: remember() re-inserts). */
export const cache = new Map<string, Cached>();
let cachedBytes = 0;

/** Memory an entry holds, estimated: its strings (2 octets a character), header, parts. */
function costOf(c: Cached): number {
  let n = 128 + (c.header?.length ?? 0);
  for (
    const t of [
      c.structureJson,
      c.envelope,
      c.envelopeUtf8,
      c.body,
      c.bodyUtf8,
      c.bodyStructure,
      c.bodyStructureUtf8,
    ]
  ) n += 2 * (t?.length ?? 0);
  if (c.structure) n += 256 * partCount(c.structure.root);
  return n;
}

function partCount(p: MessageStructure["root"]): number {
  let n = 1;
  for (const child of p.parts ?? []) n += partCount(child);
  if (p.message) n += partCount(p.message);
  return n;
}

export function remember(base: string, c: Cached): void {
  const old = cache.get(base);
  if (old) {
    cachedBytes -= old.cost ?? 0;
    cache.delete(base);
    if (old !== c) forget(old);
  }
  c.cost = costOf(c);
  cachedBytes += c.cost;
  cache.set(base, c);
  evict();
}

/** An entry grew (a text or the structure was added): count it again. */
export function recount(base: string, c: Cached): void {
  if (cache.get(base) !== c) return; // dropped meanwhile: it is not counted
  const cost = costOf(c);
  cachedBytes += cost - (c.cost ?? 0);
  c.cost = cost;
  evict();
}

function evict(): void {
  while (cache.size > MAX_ENTRIES || (cachedBytes > maxBytes && cache.size > 1)) {
    const [oldest, entry] = cache.entries().next().value!;
    cache.delete(oldest);
    cachedBytes -= entry.cost ?? 0;
    forget(entry);
  }
}

/** What the in-memory level holds (tests, metrics). */
export function messageCacheUsage(): { entries: number; bytes: number; indexed: number } {
  return { entries: cache.size, bytes: cachedBytes, indexed };
}

/** Test hook: sets the byte bound (64 MiB by default); returns the previous one. */
export function setMessageCacheBytes(bytes: number): number {
  const previous = maxBytes;
  maxBytes = bytes;
  evict();
  return previous;
}

export function fromRow(r: CacheRow): Cached {
  const c: Cached = { size: r.size, crlf: r.crlf };
  if (r.structure !== null) c.structureJson = r.structure;
  if (r.envelope !== null) c.envelope = r.envelope;
  if (r.envelopeUtf8 !== null) c.envelopeUtf8 = r.envelopeUtf8;
  if (r.body !== null) c.body = r.body;
  if (r.bodyUtf8 !== null) c.bodyUtf8 = r.bodyUtf8;
  if (r.bodyStructure !== null) c.bodyStructure = r.bodyStructure;
  if (r.bodyStructureUtf8 !== null) c.bodyStructureUtf8 = r.bodyStructureUtf8;
  return c;
}

export function toRow(c: Cached): CacheRow {
  return {
    size: c.size,
    crlf: c.crlf,
    structure: c.structureJson ?? (c.structure ? JSON.stringify(c.structure) : null),
    envelope: c.envelope ?? null,
    envelopeUtf8: c.envelopeUtf8 ?? null,
    body: c.body ?? null,
    bodyUtf8: c.bodyUtf8 ?? null,
    bodyStructure: c.bodyStructure ?? null,
    bodyStructureUtf8: c.bodyStructureUtf8 ?? null,
  };
}

/** Test and benchmark hook: forget everything held in memory (the index keeps its part). */
export function clearMessageCache(): void {
  cache.clear();
  cachedBytes = 0;
  generation++;
  indexed = 0;
}
