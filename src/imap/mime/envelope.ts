/**
 * FETCH ENVELOPE (RFC 9051 §7.5.2, RFC 3501 §7.4.2): the RFC 5322 header fields of a
 * message as an IMAP list. Values go out raw (encoded words are not decoded; clients
 * decode them), unfolded and trimmed. Sender and Reply-To default to From.
 */
import { parseAddressList, type ParsedAddress } from "../../message/address.ts";
import { fieldValue, forEachField } from "../../message/header.ts";
import type { BodyPart, MessageStructure } from "../../message/mime.ts";
import { nil, nstring, type StringOptions } from "../wire.ts";

/** An ENVELOPE address: (name adl mailbox host). */
export type EnvelopeAddress = ParsedAddress;

const FIELDS = [
  "date",
  "subject",
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "in-reply-to",
  "message-id",
] as const;
type EnvelopeField = typeof FIELDS[number];
const WANTED = new Set<string>(FIELDS);

/** Envelope fields of one message, as data. */
export interface EnvelopeData {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[];
  sender: EnvelopeAddress[];
  replyTo: EnvelopeAddress[];
  to: EnvelopeAddress[];
  cc: EnvelopeAddress[];
  bcc: EnvelopeAddress[];
  inReplyTo: string | null;
  messageId: string | null;
}

/** Envelope data of the message whose header is that of `part` (root or embedded). */
export function envelopeData(bytes: Uint8Array, part: BodyPart): EnvelopeData {
  const raw = new Map<EnvelopeField, string>();
  forEachField(bytes, part.headerStart, part.bodyStart, (f) => {
    if (WANTED.has(f.name) && !raw.has(f.name as EnvelopeField)) {
      raw.set(f.name as EnvelopeField, fieldValue(bytes, f));
    }
  });
  const addresses = (name: EnvelopeField) => {
    const v = raw.get(name);
    return v === undefined ? [] : parseAddressList(v);
  };
  const from = addresses("from");
  const sender = addresses("sender");
  const replyTo = addresses("reply-to");
  return {
    date: raw.get("date") ?? null,
    subject: raw.get("subject") ?? null,
    from,
    // RFC 9051 §7.5.2: "If the Sender or Reply-To lines are absent in the [RFC-5322]
    // header, or are present but empty, the server sets the corresponding member of the
    // envelope to be the same value as the from member."
    sender: sender.length > 0 ? sender : from,
    replyTo: replyTo.length > 0 ? replyTo : from,
    to: addresses("to"),
    cc: addresses("cc"),
    bcc: addresses("bcc"),
    inReplyTo: raw.get("in-reply-to") ?? null,
    messageId: raw.get("message-id") ?? null,
  };
}

function addressList(list: EnvelopeAddress[], options: StringOptions): string {
  if (list.length === 0) return nil;
  let out = "(";
  for (const a of list) {
    out += `(${nstring(a.name, options)} ${nstring(a.adl, options)} ${
      nstring(a.mailbox, options)
    } ${nstring(a.host, options)})`;
  }
  return out + ")";
}

/** The ENVELOPE list of the message whose header is that of `part`. */
export function partEnvelope(
  bytes: Uint8Array,
  part: BodyPart,
  options: StringOptions = {},
): string {
  const e = envelopeData(bytes, part);
  return "(" + [
    nstring(e.date, options),
    nstring(e.subject, options),
    addressList(e.from, options),
    addressList(e.sender, options),
    addressList(e.replyTo, options),
    addressList(e.to, options),
    addressList(e.cc, options),
    addressList(e.bcc, options),
    nstring(e.inReplyTo, options),
    nstring(e.messageId, options),
  ].join(" ") + ")";
}

/**
 * The ENVELOPE of a message, e.g. `("date" "subject" (("name" NIL "box" "host")) ...)`.
 * Non-ASCII text goes as literals unless `options.utf8` (UTF8=ACCEPT / IMAP4rev2).
 */
export function envelope(
  bytes: Uint8Array,
  structure: MessageStructure,
  options: StringOptions = {},
): string {
  return partEnvelope(bytes, structure.root, options);
}

/** An envelope of NILs, for an embedded message that cannot be parsed. */
export const EMPTY_ENVELOPE = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
