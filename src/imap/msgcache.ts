/**
 * Parsed message structure, cached by Maildir base name (unique and immutable: a
 * message's bytes never change, only its flags, which live in the file name). A
 * client's full re-sync (FETCH 1:* ENVELOPE, BODYSTRUCTURE) is then answered from
 * memory without reading or parsing the files again. Shared by every session.
 */
import type { Folder, MessageEntry } from "../store/folder.ts";
import { bodyStructure } from "./mime/bodystructure.ts";
import { envelope } from "./mime/envelope.ts";
import { type MessageStructure, parseMessage, toCrlf } from "./mime/parse.ts";

interface Cached {
  structure: MessageStructure;
  /** The file has bare LFs: its bytes are served in CRLF form. */
  crlf: boolean;
  /** The header section (offsets as in the file), kept for SEARCH when small. */
  header?: Uint8Array;
  envelope?: string;
  envelopeUtf8?: string;
  body?: string;
  bodyUtf8?: string;
  bodyStructure?: string;
  bodyStructureUtf8?: string;
}

/** Entries kept (oldest dropped first); a structure is a few hundred bytes. */
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

/** A message being answered: bytes are read only when something needs them. */
export class MessageData {
  #bytes: Uint8Array | null = null;
  #cached: Cached | undefined;

  constructor(readonly folder: Folder, readonly entry: MessageEntry) {
    this.#cached = cache.get(entry.base);
  }

  get parsed(): boolean {
    return this.#cached !== undefined;
  }

  /** The message as served (CRLF line endings). */
  async bytes(): Promise<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    let b = await this.folder.read(this.entry);
    if (!this.#cached) {
      let structure = parseMessage(b);
      const crlf = structure.bareLf;
      if (crlf) {
        b = toCrlf(b);
        structure = parseMessage(b);
      }
      const end = structure.root.bodyStart;
      const header = end <= MAX_CACHED_HEADER ? b.slice(0, end) : undefined;
      this.#cached = { structure, crlf, header };
      remember(this.entry.base, this.#cached);
    } else if (this.#cached.crlf) {
      b = toCrlf(b);
    }
    this.#bytes = b;
    return b;
  }

  /**
   * Bytes that hold at least the message header at its offsets: the cached header
   * section when there is one, else the whole message (for header SEARCH keys).
   */
  async headerBytes(): Promise<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    return this.#cached?.header ?? await this.bytes();
  }

  async structure(): Promise<MessageStructure> {
    if (!this.#cached) await this.bytes();
    return this.#cached!.structure;
  }

  /** RFC822.SIZE: the served size (the file size unless it had bare LFs). */
  get size(): number {
    return this.#cached ? this.#cached.structure.size : this.entry.size;
  }

  async envelope(utf8: boolean): Promise<string> {
    const c = this.#cached;
    const hit = c && (utf8 ? c.envelopeUtf8 : c.envelope);
    if (hit) return hit;
    const bytes = await this.bytes();
    const text = envelope(bytes, this.#cached!.structure, { utf8 });
    if (utf8) this.#cached!.envelopeUtf8 = text;
    else this.#cached!.envelope = text;
    return text;
  }

  async bodyStructure(extended: boolean, utf8: boolean): Promise<string> {
    const c = this.#cached;
    const key = extended
      ? (utf8 ? "bodyStructureUtf8" : "bodyStructure")
      : (utf8 ? "bodyUtf8" : "body");
    const hit = c?.[key];
    if (hit) return hit;
    const bytes = await this.bytes();
    const text = bodyStructure(bytes, this.#cached!.structure, extended, { utf8 });
    this.#cached![key] = text;
    return text;
  }
}

/** Test and benchmark hook: forget everything. */
export function clearMessageCache(): void {
  cache.clear();
}
