/**
 * FETCH BODY and BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2) from a parsed
 * structure. BODY is the non-extensible form; BODYSTRUCTURE adds the extension data
 * (MD5, disposition, language, location; for multiparts the parameters first).
 */
import { EMPTY_ENVELOPE, partEnvelope } from "./envelope.ts";
import type { BodyPart, MessageStructure, Params } from "../../message/mime.ts";
import { nil, nstring, string, type StringOptions } from "../wire.ts";

/**
 * A multipart must hold at least one part (RFC 9051 body-type-mpart = 1*body); one whose
 * boundary never occurs is shown with an empty text/plain part, as Dovecot does.
 */
const EMPTY_PART = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0';

function params(p: Params, o: StringOptions): string {
  if (p.length === 0) return nil;
  return "(" + p.map(([k, v]) => `${string(k, o)} ${string(v, o)}`).join(" ") + ")";
}

function extension(part: BodyPart, o: StringOptions): string {
  const d = part.disposition;
  const disposition = d ? `(${string(d.type, o)} ${params(d.params, o)})` : nil;
  const language = part.language
    ? "(" + part.language.map((l) => string(l, o)).join(" ") + ")"
    : nil;
  return `${disposition} ${language} ${nstring(part.location, o)}`;
}

function write(bytes: Uint8Array, part: BodyPart, extended: boolean, o: StringOptions): string {
  if (part.type === "multipart") {
    let out = "(";
    if (part.parts && part.parts.length > 0) {
      for (const child of part.parts) out += write(bytes, child, extended, o);
    } else out += EMPTY_PART + (extended ? " NIL NIL NIL NIL)" : ")");
    out += " " + string(part.subtype, o);
    if (extended) out += ` ${params(part.params, o)} ${extension(part, o)}`;
    return out + ")";
  }
  let out = `(${string(part.type, o)} ${string(part.subtype, o)} ${params(part.params, o)} ${
    nstring(part.id, o)
  } ${nstring(part.description, o)} ${string(part.encoding, o)} ${part.bodyEnd - part.bodyStart}`;
  if (part.type === "message" && (part.subtype === "rfc822" || part.subtype === "global")) {
    if (part.message) {
      out += ` ${partEnvelope(bytes, part.message, o)} ${write(bytes, part.message, extended, o)}`;
    } else {
      out += ` ${EMPTY_ENVELOPE} ${EMPTY_PART}${extended ? " NIL NIL NIL NIL)" : ")"}`;
    }
    out += ` ${part.lines ?? 0}`;
  } else if (part.type === "text") {
    out += ` ${part.lines ?? 0}`;
  }
  if (extended) out += ` ${nstring(part.md5, o)} ${extension(part, o)}`;
  return out + ")";
}

/**
 * BODY (`extended` false) or BODYSTRUCTURE (`extended` true) of a message, e.g.
 * `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)`.
 * `bytes` is needed for the envelopes of embedded messages.
 */
export function bodyStructure(
  bytes: Uint8Array,
  structure: MessageStructure,
  extended: boolean,
  options: StringOptions = {},
): string {
  return write(bytes, structure.root, extended, options);
}
