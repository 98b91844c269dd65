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
 * structure only when something needs it.
 */
import type { CacheRow, Folder, MessageEntry } from "../store/folder/folder.ts";
import { bodyStructure } from "./mime/bodystructure.ts";
import { envelope } from "./mime/envelope.ts";
import { toCrlf } from "../message/line_endings.ts";
import { type MessageStructure, parseMessage, STRUCTURE_VERSION } from "../message/mime.ts";

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
}

/** Entries kept in memory (oldest dropped first); a structure is a few hundred bytes. */
const MAX_ENTRIES = 100_000;
/** Headers up to this size are kept, so header SEARCHes need no file reads. */
const MAX_CACHED_HEADER = 4096;
const cache = new Map<string, Cached>();

function remember(base: string, c: Cached): void {
  if (cache.size >= MAX_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(base, c);
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
      this.#cached = cache.get(this.entry.base);
      if (!this.#cached) {
        const row = this.folder.cacheGet(this.entry.base);
        if (row) {
          this.#cached = fromRow(row);
          remember(this.entry.base, this.#cached);
        }
      }
    }
    return this.#cached;
  }

  #persist(): void {
    const c = this.#cached!;
    this.folder.cachePut(this.entry.base, () => toRow(c));
  }

  /** Whether the structure is known without reading the file. */
  get parsed(): boolean {
    const c = this.#lookup();
    return c !== undefined && (c.structure !== undefined || c.structureJson !== undefined);
  }

  /** The message as served (CRLF line endings). */
  async bytes(): Promise<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    let b = await this.folder.read(this.entry);
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

  async envelope(utf8: boolean): Promise<string> {
    const c = this.#lookup();
    const hit = c && (utf8 ? c.envelopeUtf8 : c.envelope);
    if (hit) return hit;
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
}
