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
import { nextTurn, turnSpent } from "../net/turns.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { bodyStructure } from "./mime/bodystructure.ts";
import { envelope } from "./mime/envelope.ts";
import { toCrlf } from "../message/line_endings.ts";
import { type MessageStructure, parseMessage, STRUCTURE_VERSION } from "../message/mime.ts";
import { fileHasBareLf, type MessageHead, readEntrySync, readHead } from "./message_file.ts";
import {
  cache,
  type Cached,
  fromRow,
  indexUid,
  MAX_CACHED_HEADER,
  recount,
  remember,
  toRow,
  uidIndexOf,
} from "./msgcache_memory.ts";

export { clearMessageCache, messageCacheUsage, setMessageCacheBytes } from "./msgcache_memory.ts";

/** Messages larger than this are sent from their file in chunks, never held whole. */
export const STREAM_ABOVE = 256 * 1024;

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

  /**
   * The message as served (CRLF line endings). `fair`: for work over many messages at
   * once (SEARCH reads 8 in parallel), whose reads tend to end in one turn: the parse of
   * a message read for the first time waits for its share of the turn's budget (SPEC
   * §7, net/turns.ts), so 8 large ones do not hold the loop back to back.
   */
  async bytes(fair = false): Promise<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    const read = await this.folder.read(this.entry);
    if (fair && !this.parsed && turnSpent()) await nextTurn();
    return this.#bytes ?? this.#accept(read);
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
