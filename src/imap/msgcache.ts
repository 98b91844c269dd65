/**
 * Parsed message structure, cached by Maildir base name (unique and immutable: a
 * message's bytes never change, only its flags, which live in the file name). A
 * client's full re-sync (FETCH 1:* ENVELOPE, BODYSTRUCTURE) is then answered from
 * memory without reading or parsing the files again. Shared by every session.
 *
 * Two levels: recent entries in memory (with small headers, for SEARCH), and every
 * parse result in the folder's index (Folder.cacheGet/cachePut, written in batches),
 * so a restart does not parse a 100,000-message mailbox again. The index keeps the
 * structure and the ENVELOPE / BODY / BODYSTRUCTURE texts; a lookup there parses the
 * structure only when something needs it. The memory level is bounded in bytes
 * (64 MiB, an estimate of what each entry holds) as well as in entries.
 *
 * Large messages (over STREAM_ABOVE) are never held whole for FETCH of the message,
 * its text or its header: those are read from the file (fileHead, sendRange; the
 * structure, when a part needs it, is parsed once and cached like any other).
 */
import type { CacheRow, Folder, MessageEntry } from "../store/folder/folder.ts";
import { bodyStructure } from "./mime/bodystructure.ts";
import { envelope } from "./mime/envelope.ts";
import { toCrlf } from "../message/line_endings.ts";
import { type MessageStructure, parseMessage, STRUCTURE_VERSION } from "../message/mime.ts";
import { fileHasBareLf, type MessageHead, readEntrySync, readHead } from "./message_file.ts";

interface Cached {
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
interface UidIndex {
  validity: number;
  /** clearMessageCache() makes every index made before it stale. */
  generation: number;
  entries: Map<number, Cached>;
}
const uidIndexes = new WeakMap<Folder, UidIndex>();
let generation = 0;
/** UID index entries pointing at cached entries (messageCacheUsage). */
let indexed = 0;

function uidIndexOf(folder: Folder): UidIndex {
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
function indexUid(index: UidIndex, uid: number, c: Cached): void {
  index.entries.set(uid, c);
  indexed++;
  (c.homes ??= []).push({ entries: index.entries, uid });
}

/** Entries kept in memory (oldest dropped first); a structure is a few hundred bytes. */
const MAX_ENTRIES = 100_000;
/** What the entries may hold in memory together, estimated (oldest dropped first). */
let maxBytes = 64 << 20;
/** Headers up to this size are kept, so header SEARCHes need no file reads. */
const MAX_CACHED_HEADER = 4096;
/** Messages larger than this are sent from their file in chunks, never held whole. */
export const STREAM_ABOVE = 256 * 1024;
const cache = new Map<string, Cached>();
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

function remember(base: string, c: Cached): void {
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
function recount(base: string, c: Cached): void {
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

function fromRow(r: CacheRow): Cached {
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

function toRow(c: Cached): CacheRow {
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

/** A message being answered: bytes are read only when something needs them. */
export class MessageData {
  #bytes: Uint8Array | null = null;
  #cached: Cached | undefined;
  #looked = false;

  constructor(readonly folder: Folder, readonly entry: MessageEntry) {}

  /** The cache entry: memory first, then the folder's index (no file access). */
  #lookup(): Cached | undefined {
    if (!this.#looked) {
      this.#looked = true;
      const index = uidIndexOf(this.folder);
      const uid = this.entry.uid;
      let c = index.entries.get(uid);
      if (c === undefined) {
        const base = this.entry.base;
        c = cache.get(base);
        if (!c) {
          const row = this.folder.cacheGet(base);
          if (row) {
            c = fromRow(row);
            remember(base, c);
          }
        }
        if (c) indexUid(index, uid, c);
      }
      this.#cached = c;
    }
    return this.#cached;
  }

  #persist(): void {
    const c = this.#cached!;
    recount(this.entry.base, c);
    this.folder.cachePut(this.entry.base, () => toRow(c));
  }

  /** Whether the structure is known without reading the file. */
  get parsed(): boolean {
    const c = this.#lookup();
    return c !== undefined && (c.structure !== undefined || c.structureJson !== undefined);
  }

  /** The message as served (CRLF line endings). */
  async bytes(): Promise<Uint8Array> {
    return this.#bytes ?? this.#accept(await this.folder.read(this.entry));
  }

  /**
   * bytes() without waiting, for a small message whose file is where the folder says
   * (readEntrySync); null otherwise (large, or renamed meanwhile): then await bytes().
   */
  bytesNow(): Uint8Array | null {
    if (this.#bytes) return this.#bytes;
    const b = readEntrySync(this.folder, this.entry);
    return b && this.#accept(b);
  }

  /**
   * The index or memory knows the file is served as it is stored (CRLF line endings,
   * the size recorded): its bytes can go out straight from the file, unparsed.
   */
  get servedAsStored(): boolean {
    const c = this.#lookup();
    return c !== undefined && !c.crlf && c.size === this.entry.size;
  }

  /** The file's bytes read: served form, and the structure parsed when not yet known. */
  #accept(read: Uint8Array): Uint8Array {
    let b = read;
    const c = this.#lookup();
    if (!c || (c.structure === undefined && c.structureJson === undefined)) {
      let structure = parseMessage(b);
      const crlf = structure.bareLf;
      if (crlf) {
        b = toCrlf(b);
        structure = parseMessage(b);
      }
      const end = structure.root.bodyStart;
      const header = end <= MAX_CACHED_HEADER ? b.slice(0, end) : undefined;
      this.#cached = Object.assign(c ?? {}, { size: structure.size, crlf, structure, header });
      remember(this.entry.base, this.#cached);
      this.#persist();
    } else {
      if (c.crlf) b = toCrlf(b);
      if (!c.header) {
        const end = this.#structureOf(c).root.bodyStart;
        if (end <= MAX_CACHED_HEADER) c.header = b.slice(0, end);
        recount(this.entry.base, c);
      }
    }
    this.#bytes = b;
    return b;
  }

  #structureOf(c: Cached): MessageStructure {
    if (!c.structure) {
      const s = JSON.parse(c.structureJson!) as MessageStructure;
      if (s.version !== STRUCTURE_VERSION) throw new Error("cached structure of another version");
      c.structure = s;
      recount(this.entry.base, c);
    }
    return c.structure;
  }

  /**
   * Bytes that hold at least the message header at its offsets: the cached header
   * section when there is one, else the whole message (for header SEARCH keys).
   */
  async headerBytes(): Promise<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    return this.#lookup()?.header ?? await this.bytes();
  }

  async structure(): Promise<MessageStructure> {
    const c = this.#lookup();
    if (c && (c.structure || c.structureJson)) {
      try {
        return this.#structureOf(c);
      } catch {
        delete c.structureJson; // unreadable: parse the message again
      }
    }
    await this.bytes();
    return this.#cached!.structure!;
  }

  /** RFC822.SIZE: the served size (the file size unless it had bare LFs). */
  get size(): number {
    return this.#lookup()?.size ?? this.entry.size;
  }

  /** Large enough to be sent from its file in chunks rather than held (FETCH). */
  get large(): boolean {
    return this.entry.size > STREAM_ABOVE && this.#bytes === null;
  }

  #head: MessageHead | null | undefined;

  /**
   * A large message's header and first body line, read from its file, when the file is
   * served as stored (CRLF: as every message this server stores); null when it is not
   * (bare LFs to convert, or a header over 1 MiB): then the whole-message path serves
   * it. Fills the cache entry's size and line-ending verdict without parsing the body.
   */
  async fileHead(): Promise<MessageHead | null> {
    if (this.#head !== undefined) return this.#head;
    const file = await this.folder.openFile(this.entry);
    try {
      const head = await readHead(file);
      let c = this.#lookup();
      if (head && !c) {
        const size = (await file.stat()).size;
        c = this.#cached = { size, crlf: await fileHasBareLf(file, head, size) };
        remember(this.entry.base, c);
        this.#persist();
      }
      this.#head = head && c && !c.crlf ? head : null;
      return this.#head;
    } finally {
      file.close();
    }
  }

  /** The message's file opened for reading (a large message sent in chunks). */
  openFile(): Promise<Deno.FsFile> {
    return this.folder.openFile(this.entry);
  }

  /** The ENVELOPE when memory or the index has it (no file access), else undefined. */
  envelopeNow(utf8: boolean): string | undefined {
    const c = this.#lookup();
    return (c && (utf8 ? c.envelopeUtf8 : c.envelope)) || undefined;
  }

  async envelope(utf8: boolean): Promise<string> {
    const c = this.#lookup();
    const hit = c && (utf8 ? c.envelopeUtf8 : c.envelope);
    if (hit) return hit;
    // A large message's ENVELOPE needs its header only.
    const head = this.large ? await this.fileHead() : null;
    if (head) {
      const header = head.bytes.subarray(0, head.bodyStart);
      const text = envelope(header, parseMessage(header), { utf8 });
      if (utf8) this.#cached!.envelopeUtf8 = text;
      else this.#cached!.envelope = text;
      this.#persist();
      return text;
    }
    const bytes = await this.bytes();
    const text = envelope(bytes, await this.structure(), { utf8 });
    if (utf8) this.#cached!.envelopeUtf8 = text;
    else this.#cached!.envelope = text;
    this.#persist();
    return text;
  }

  async bodyStructure(extended: boolean, utf8: boolean): Promise<string> {
    const c = this.#lookup();
    const key = extended
      ? (utf8 ? "bodyStructureUtf8" : "bodyStructure")
      : (utf8 ? "bodyUtf8" : "body");
    const hit = c?.[key];
    if (hit) return hit;
    const bytes = await this.bytes();
    const text = bodyStructure(bytes, await this.structure(), extended, { utf8 });
    this.#cached![key] = text;
    this.#persist();
    return text;
  }
}

/** Test and benchmark hook: forget everything held in memory (the index keeps its part). */
export function clearMessageCache(): void {
  cache.clear();
  cachedBytes = 0;
  generation++;
  indexed = 0;
}
