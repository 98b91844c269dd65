/**
 * The bytes a part path names (RFC 9051 §6.4.5 BODY[section] and <partial>; the grammar
 * of a section spec is IMAP's, src/imap/mime/section.ts).
 *
 * Part numbering: the parts of a multipart are 1..n; a non-multipart message has one
 * part, 1 (its body); a message/rfc822 part's subparts are those of the message inside.
 * HEADER, HEADER.FIELDS[.NOT] and TEXT apply to the message itself (no part number) or
 * to a message/rfc822 part; MIME to any numbered part. Nonexistent parts give empty data.
 */
import { CR, forEachField, LF } from "./header.ts";
import type { BodyPart, MessageStructure } from "./mime.ts";

export type SectionText = "" | "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/** A section: `1.2.HEADER.FIELDS (From To)` = {part: [1, 2], ...}. */
export interface Section {
  /** Part numbers, outermost first; empty for the message itself. */
  part: number[];
  text: SectionText;
  /** Field names for HEADER.FIELDS[.NOT], as given. */
  fields?: string[];
}

/** What a part path resolves to: the entity, and whether it names a whole message. */
interface Target {
  part: BodyPart;
  /** True for the message itself (empty path): its body is TEXT, not part 1. */
  isMessage: boolean;
}

function isMessagePart(p: BodyPart): boolean {
  return p.type === "message" && (p.subtype === "rfc822" || p.subtype === "global");
}

/** Follows a part path (RFC 9051 §6.4.5 numbering); null when the part does not exist. */
export function resolvePart(structure: MessageStructure, path: number[]): BodyPart | null {
  return resolve(structure, path)?.part ?? null;
}

function resolve(structure: MessageStructure, path: number[]): Target | null {
  let cur = structure.root;
  if (path.length === 0) return { part: cur, isMessage: true };
  // `cur` is a message (root or embedded) whose parts the next number selects.
  let inMessage = true;
  for (const n of path) {
    if (!Number.isInteger(n) || n < 1) return null;
    let container: BodyPart | undefined = cur;
    if (!inMessage) {
      if (cur.parts) container = cur;
      else if (cur.message) container = cur.message;
      else return null; // a leaf has no subparts
    }
    if (container.parts) {
      if (n > container.parts.length) return null;
      cur = container.parts[n - 1];
    } else {
      if (n !== 1) return null;
      cur = container;
    }
    inMessage = false;
  }
  return { part: cur, isMessage: false };
}

const EMPTY = new Uint8Array(0);
const CRLF = new Uint8Array([CR, LF]);

/** The bytes a section names (a view into `bytes` where possible); empty if none. */
export function sectionBytes(
  bytes: Uint8Array,
  structure: MessageStructure,
  section: Section,
): Uint8Array {
  const target = resolve(structure, section.part);
  if (!target) return EMPTY;
  const { part, isMessage } = target;
  switch (section.text) {
    case "":
      return isMessage ? bytes : bytes.subarray(part.bodyStart, part.bodyEnd);
    case "MIME":
      return bytes.subarray(part.headerStart, part.bodyStart);
  }
  // HEADER, HEADER.FIELDS[.NOT], TEXT: of the message itself or of a message/rfc822 part.
  let msg: BodyPart | undefined = part;
  if (!isMessage) msg = isMessagePart(part) ? part.message : undefined;
  if (!msg) return EMPTY;
  if (section.text === "TEXT") return bytes.subarray(msg.bodyStart, msg.bodyEnd);
  if (section.text === "HEADER") return bytes.subarray(msg.headerStart, msg.bodyStart);
  return headerFields(bytes, msg, section.fields ?? [], section.text === "HEADER.FIELDS.NOT");
}

/**
 * Where the octets of a section are in the message, for sections that are one range of
 * it (everything but HEADER.FIELDS[.NOT]): a large message's section is then read from
 * its file. Null for HEADER.FIELDS; an empty range when the part does not exist.
 */
export function sectionRange(
  structure: MessageStructure,
  section: Section,
): { start: number; end: number } | null {
  const none = { start: 0, end: 0 };
  if (section.text === "HEADER.FIELDS" || section.text === "HEADER.FIELDS.NOT") return null;
  const target = resolve(structure, section.part);
  if (!target) return none;
  const { part, isMessage } = target;
  if (section.text === "") {
    return isMessage
      ? { start: 0, end: structure.size }
      : { start: part.bodyStart, end: part.bodyEnd };
  }
  if (section.text === "MIME") return { start: part.headerStart, end: part.bodyStart };
  const msg = isMessage ? part : isMessagePart(part) ? part.message : undefined;
  if (!msg) return none;
  if (section.text === "TEXT") return { start: msg.bodyStart, end: msg.bodyEnd };
  return { start: msg.headerStart, end: msg.bodyStart };
}

/**
 * The header fields of `msg` whose names are (or with `not`, are not) in `names`,
 * case-insensitively, in header order, followed by the blank line (RFC 9051 §6.4.5).
 */
export function headerFields(
  bytes: Uint8Array,
  msg: BodyPart,
  names: string[],
  not: boolean,
): Uint8Array {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const ranges: [number, number][] = [];
  let size = CRLF.length;
  forEachField(bytes, msg.headerStart, msg.bodyStart, (f) => {
    if (wanted.has(f.name) !== not) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === f.start) last[1] = f.end;
      else ranges.push([f.start, f.end]);
      size += f.end - f.start;
    }
  });
  const out = new Uint8Array(size);
  let at = 0;
  for (const [s, e] of ranges) {
    out.set(bytes.subarray(s, e), at);
    at += e - s;
  }
  // A last field without a line ending (header at end of file) still ends its line.
  if (at > 0 && out[at - 1] !== LF) {
    const fixed = new Uint8Array(at + 4);
    fixed.set(out.subarray(0, at));
    fixed.set([CR, LF, CR, LF], at);
    return fixed;
  }
  out.set(CRLF, at);
  return out;
}

/**
 * BODY[...]<offset.length> (RFC 9051 §6.4.5): the octets from `offset`, at most `length`
 * of them (all of them when `length` is undefined); empty when `offset` is past the end.
 */
export function partial(bytes: Uint8Array, offset: number, length?: number): Uint8Array {
  if (offset >= bytes.length || offset < 0) return EMPTY;
  const end = length === undefined ? bytes.length : Math.min(bytes.length, offset + length);
  return bytes.subarray(offset, end);
}
