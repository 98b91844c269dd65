/**
 * The untagged FETCH responses: items in the order asked, message data as stored (CRLF)
 * in literals, and the items a response must carry unasked (UID for UID FETCH, MODSEQ
 * once CONDSTORE is on, FLAGS after an implicit \Seen).
 */
import type { MessageEntry } from "../store/folder/folder.ts";
import { formatDateTime, no } from "./args.ts";
import { type FetchItem, needsBytes } from "./fetch_items.ts";
import { decodeBodyBytes } from "../message/body_text.ts";
import { partial, resolvePart, type Section, sectionBytes } from "../message/section.ts";
import { MessageData } from "./msgcache.ts";
import { objectIdOf } from "./objectid.ts";
import { previewValue, saveDateValue } from "./preview.ts";
import { largeSection } from "./fetch_large.ts";
import { readEntryInto, sendRange, SYNC_READ_LIMIT } from "./message_file.ts";
import type { Session } from "./session.ts";

export interface RenderOptions {
  byUid: boolean;
  /** MODSEQ goes in every response (asked for, or CHANGEDSINCE). */
  modseq: boolean;
  /** Which items were asked for by name (implied ones are added when they were not). */
  hasUid: boolean;
  hasModseq: boolean;
  hasFlags: boolean;
  /** Only FLAGS, UID and MODSEQ: rendered synchronously (a whole-mailbox flag re-sync). */
  simple: boolean;
}

/** The response of a FETCH of FLAGS, UID and MODSEQ only (opts.simple). */
export function renderSimple(
  s: Session,
  seq: number,
  uid: number,
  e: MessageEntry,
  items: FetchItem[],
  opts: RenderOptions,
): string {
  // These items never need the message's data, so renderCached() never gives null here.
  return renderCached(s, seq, uid, e, null, items, opts) as string;
}

/** Items renderCached() may answer: text known without reading the message file. */
export const CACHED_KINDS: ReadonlySet<string> = new Set([
  "UID",
  "FLAGS",
  "MODSEQ",
  "RFC822.SIZE",
  "ENVELOPE",
]);

/**
 * The response of a FETCH of CACHED_KINDS items only, as renderMessage() writes it, built
 * synchronously (no closures, no promise per item): the metadata FETCH 1:* of a mail
 * client opening a folder. Null when the message's ENVELOPE is not cached yet: then
 * renderMessage() reads it (or when `d` is null and an item needs it: RFC822.SIZE,
 * ENVELOPE). Not for a FETCH that sets \Seen (no implicit items here).
 */
export function renderCached(
  s: Session,
  seq: number,
  uid: number,
  e: MessageEntry,
  d: MessageData | null,
  items: FetchItem[],
  opts: RenderOptions,
): string | null {
  let line = `* ${seq} FETCH (`;
  let first = true;
  if (opts.byUid && !opts.hasUid) {
    line += `UID ${uid}`;
    first = false;
  }
  for (const item of items) {
    line += first ? "" : " ";
    first = false;
    switch (item.kind) {
      case "UID":
        line += `UID ${uid}`;
        break;
      case "FLAGS":
        line += `FLAGS (${s.flagText(uid, e)})`;
        break;
      case "MODSEQ":
        line += `MODSEQ (${e.modseq})`;
        break;
      case "RFC822.SIZE":
        if (d === null) return null;
        line += `RFC822.SIZE ${d.size}`;
        break;
      default: {
        const envelope = d?.envelopeNow(s.utf8);
        if (envelope === undefined) return null;
        line += `ENVELOPE ${envelope}`;
      }
    }
  }
  if (opts.modseq && !opts.hasModseq) line += `${first ? "" : " "}MODSEQ (${e.modseq})`;
  return line + ")\r\n";
}

/** BODY[] or BODY.PEEK[], whole (no partial): the message as stored (RFC 3501 §6.4.5). */
export function isWholeBody(item: FetchItem): boolean {
  return item.kind === "SECTION" && item.section.part.length === 0 &&
    item.section.text === "" && item.offset === undefined;
}

/**
 * The response for a FETCH of BODY[] alone (isWholeBody) of a small message served as
 * stored, with the file read straight into the output buffer: no buffer of its own and
 * no copy (a client fetching a mailbox message by message). The same response as
 * renderMessage; false, with nothing queued, when the message does not qualify (not in
 * the structure cache yet, large, bare LFs) or its file was renamed meanwhile: then
 * renderMessage answers.
 */
export function renderWholeInPlace(
  s: Session,
  msg: { seq: number; uid: number; entry: MessageEntry },
  d: MessageData,
  label: string,
  opts: RenderOptions,
): boolean {
  const { seq, uid, entry } = msg;
  const size = entry.size;
  if (size > SYNC_READ_LIMIT || !d.servedAsStored) return false;
  // As renderMessage: UID first for UID FETCH, MODSEQ last once CONDSTORE is on.
  const uidItem = opts.byUid && !opts.hasUid ? `UID ${uid} ` : "";
  const prefix = `* ${seq} FETCH (${uidItem}${label} {${size}}\r\n`;
  const suffix = opts.modseq && !opts.hasModseq ? ` MODSEQ (${entry.modseq}))\r\n` : ")\r\n";
  return s.out.literalInPlace(
    prefix,
    size,
    (buf, at) => readEntryInto(s.view!.folder, entry, buf, at),
    suffix,
  );
}

/**
 * The response for one message, written to the session's output once every item is
 * rendered: an item that fails (the file expunged or renamed meanwhile) then leaves no
 * half-written response behind, which a client could not parse (a literal followed by the
 * next message's "* n FETCH" instead of ")"). `d` is the message's data when an item
 * needs it; `flagsChanged`: this FETCH set \Seen on it.
 */
export async function renderMessage(
  s: Session,
  msg: { seq: number; uid: number; entry: MessageEntry },
  d: MessageData | null,
  items: FetchItem[],
  opts: RenderOptions,
  flagsChanged: boolean,
): Promise<void> {
  const { seq, uid, entry } = msg;
  const out = s.out;
  const parts: string[] = [];
  // RFC 3501 §6.4.8: UID FETCH always reports the UID. RFC 7162 §3.1: once CONDSTORE is
  // enabled, a response for an implicit \Seen carries UID and MODSEQ too.
  const implicit = flagsChanged && s.condstore;
  if ((opts.byUid || implicit) && !opts.hasUid) parts.push(`UID ${uid}`);
  let head = `* ${seq} FETCH (`;
  let afterLiteral = false;
  /**
   * The response so far: text, literal bytes as they are, and ranges of a large
   * message's file, opened while the response is built: an open file keeps its bytes
   * when the message is expunged or renamed meanwhile, so once writing starts nothing
   * can fail half-way through a response.
   */
  const segments: (string | Uint8Array | FileRange)[] = [];
  const opened: Deno.FsFile[] = [];
  const emit = (text: string) => parts.push(text);
  const literalHead = (label: string, length: number, prefix = "") => {
    parts.push(label);
    segments.push(`${head}${afterLiteral ? " " : ""}${parts.join(" ")} ${prefix}{${length}}\r\n`);
    parts.length = 0;
    head = "";
    afterLiteral = true;
  };
  const emitLiteral = (label: string, bytes: Uint8Array, binary = false) => {
    // Text items so far, then the literal's bytes as they are.
    literalHead(label, bytes.length, binary && bytes.includes(0) ? "~" : "");
    segments.push(bytes);
    return Promise.resolve();
  };
  /** A literal to be sent from the message file in chunks, as the client takes them. */
  const emitFile = async (label: string, start: number, end: number) => {
    const file = await d!.openFile();
    opened.push(file);
    literalHead(label, end - start);
    segments.push({ file, start, end });
  };
  try {
    await renderItems();
  } catch (e) {
    for (const f of opened) f.close();
    throw e;
  }
  try {
    for (const seg of segments) {
      if (typeof seg === "string") out.text(seg);
      else if (seg instanceof Uint8Array) out.bytes(seg);
      else await sendFileRange(s, seg);
    }
  } finally {
    for (const f of opened) f.close();
  }
  if (out.full) await out.flush();

  async function renderItems(): Promise<void> {
    for (const item of items) {
      // SPEC §7: the message, its text and its header of a large message come from its file.
      const large = d?.large && needsBytes(item) ? await largeSection(d, item) : null;
      if (large) {
        if ("bytes" in large) await emitLiteral(large.label, large.bytes);
        else await emitFile(large.label, large.start, large.end);
        continue;
      }
      switch (item.kind) {
        case "UID":
          emit(`UID ${uid}`);
          break;
        case "FLAGS":
          emit(`FLAGS (${s.flagText(uid, entry)})`);
          break;
        case "MODSEQ":
          emit(`MODSEQ (${entry.modseq})`);
          break;
        case "INTERNALDATE":
          emit(
            `INTERNALDATE ${
              formatDateTime(entry.internalDate ?? await s.view!.folder.internalDate(entry))
            }`,
          );
          break;
        case "RFC822.SIZE":
          emit(`RFC822.SIZE ${d!.size}`);
          break;
        case "SAVEDATE":
          emit(`SAVEDATE ${saveDateValue(s.view!.folder, entry)}`);
          break;
        case "PREVIEW":
          emit(`PREVIEW ${await previewValue(s.view!.folder, entry, d, item.lazy, s.utf8)}`);
          break;
        case "ENVELOPE":
          emit(`ENVELOPE ${await d!.envelope(s.utf8)}`);
          break;
        case "BODY":
          emit(`BODY ${await d!.bodyStructure(false, s.utf8)}`);
          break;
        case "BODYSTRUCTURE":
          emit(`BODYSTRUCTURE ${await d!.bodyStructure(true, s.utf8)}`);
          break;
        case "RFC822":
          await emitLiteral("RFC822", await d!.bytes());
          break;
        case "EMAILID":
        case "THREADID": {
          // RFC 8474 §5: fetch-att "EMAILID (id)", "THREADID (id)".
          const which = item.kind === "EMAILID" ? "emailId" : "threadId";
          emit(`${item.kind} (${await objectIdOf(s.view!.folder, entry, which)})`);
          break;
        }
        case "RFC822.HEADER":
          await emitLiteral(
            "RFC822.HEADER",
            sectionBytes(await d!.bytes(), await d!.structure(), { part: [], text: "HEADER" }),
          );
          break;
        case "RFC822.TEXT":
          await emitLiteral(
            "RFC822.TEXT",
            sectionBytes(await d!.bytes(), await d!.structure(), { part: [], text: "TEXT" }),
          );
          break;
        case "SECTION": {
          const bytes = sectionBytes(await d!.bytes(), await d!.structure(), item.section);
          await emitSection(item, bytes, emitLiteral);
          break;
        }
        case "BINARY":
        case "BINARY.SIZE": {
          const bytes = await binaryBytes(d!, item.section);
          if (bytes === null) throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
          if (item.kind === "BINARY.SIZE") emit(`${item.label} ${bytes.length}`);
          else await emitSection(item, bytes, (l, b) => emitLiteral(l, b, true));
          break;
        }
      }
    }
    if ((opts.modseq || implicit) && !opts.hasModseq) {
      emit(`MODSEQ (${entry.modseq})`);
    }
    if (flagsChanged && !opts.hasFlags) {
      emit(`FLAGS (${s.flagText(uid, entry)})`);
    }
    segments.push(`${head}${afterLiteral && parts.length ? " " : ""}${parts.join(" ")})\r\n`);
  }
}

/** A range of a large message's file, sent as a literal's bytes. */
interface FileRange {
  file: Deno.FsFile;
  start: number;
  end: number;
}

async function sendFileRange(s: Session, r: FileRange): Promise<void> {
  await s.out.flush();
  try {
    await sendRange(r.file, r.start, r.end, async (chunk) => {
      await s.conn.write(chunk);
      return !s.conn.closed;
    });
  } catch (e) {
    // The literal cannot be completed (the file is shorter than it was): end the session.
    s.conn.close();
    throw e;
  }
}

async function emitSection(
  item: Extract<FetchItem, { kind: "SECTION" | "BINARY" | "BINARY.SIZE" }>,
  bytes: Uint8Array,
  emitLiteral: (label: string, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  if (item.offset === undefined) return await emitLiteral(item.label, bytes);
  // RFC 3501 §6.4.5 partial: the response names only the origin octet.
  await emitLiteral(`${item.label}<${item.offset}>`, partial(bytes, item.offset, item.length));
}

/** BINARY[part]: the part's body with its transfer encoding undone (RFC 3516 §4.2). */
async function binaryBytes(d: MessageData, section: Section): Promise<Uint8Array | null> {
  const bytes = await d.bytes();
  if (section.part.length === 0) return bytes;
  const part = resolvePart(await d.structure(), section.part);
  if (!part) return new Uint8Array(0);
  if (part.parts || part.message) return bytes.subarray(part.bodyStart, part.bodyEnd);
  const cte = part.encoding.toLowerCase();
  if (!["7bit", "8bit", "binary", "base64", "quoted-printable"].includes(cte)) return null;
  return decodeBodyBytes(bytes, part);
}

/**
 * Unsolicited FETCH responses with `items` for the selected mailbox's messages `msgs`
 * ([sequence number, UID]): NOTIFY's MessageNew (RFC 5465 §5.2) and CONTEXT's UPDATE for
 * messages joining a result (RFC 5465 §7 via RFC 5267). A message expunged meanwhile
 * (gone from the view, or its file gone) is left out.
 */
export async function renderUnsolicited(
  s: Session,
  items: FetchItem[],
  msgs: Iterable<[number, number]>,
): Promise<void> {
  const view = s.view!;
  const has = (kind: string) => items.some((i) => i.kind === kind);
  const opts: RenderOptions = {
    byUid: false,
    modseq: s.condstore,
    hasUid: has("UID"),
    hasModseq: has("MODSEQ"),
    hasFlags: has("FLAGS"),
    simple: false,
  };
  for (const [seq, uid] of msgs) {
    const entry = view.entry(uid);
    if (!entry) continue;
    try {
      const data = new MessageData(view.folder, entry);
      await renderMessage(s, { seq, uid, entry }, data, items, opts, false);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
