/**
 * What SORT, THREAD, OBJECTID and some SEARCH keys need of one message, computed once from
 * its header (pure functions, one pass each):
 *
 * - the base subject (RFC 5256 §2.1) and whether the subject marked a reply or forward;
 * - the sent date (Date: field; RFC 5256 §2.2 falls back to INTERNALDATE, done by the
 *   caller, which knows the entry);
 * - the first From / To / Cc mailbox (RFC 5256 §3 FROM, TO, CC: the addr-mailbox) and the
 *   display names (RFC 5957 DISPLAYFROM, DISPLAYTO);
 * - Message-ID and References (or In-Reply-To) for THREAD=REFERENCES (RFC 5256 §2.2);
 * - the EMAILID (RFC 8474 §5.1): a digest of the content, so identical messages (a COPY,
 *   one delivery to several folders) share it; unknown (null) when only the header block
 *   was read (a big message another program stored), then computed on first need.
 *
 * Every text key is kept in the i;unicode-casemap form (RFC 5051) that SORT compares, so a
 * sort of 100,000 messages compares stored strings and reads no file. The keys are
 * written to the folder's index (KEYS_VERSION tags them, so a change here recomputes them).
 */
import { createHash } from "node:crypto";
import { parseAddressList, type ParsedAddress } from "../message/address.ts";
import { parseDate } from "../message/date.ts";
import { decodeEncodedWords } from "../message/encoded_words.ts";
import { fieldValue, forEachField, headerEnd } from "../message/header.ts";
import { messageIds } from "../message/message_id.ts";

/**
 * Bumped when what computeKeys returns changes: stored keys of another version are
 * recomputed. 2: the EMAILID may be unknown (keys from the header block alone).
 */
export const KEYS_VERSION = 2;
/** How stored key texts of this version start (encodeKeys: a JSON array led by it). */
export const KEYS_PREFIX = `[${KEYS_VERSION},`;

export interface MessageKeys {
  /** Base subject (RFC 5256 §2.1), in i;unicode-casemap form. */
  subject: string;
  /** The subject carried a reply or forward marker (RFC 5256 §2.1 steps 2, 3 and 6). */
  reply: boolean;
  /** Decoded, unfolded values of every Subject field, as written (SEARCH SUBJECT). */
  subjects: string[];
  /** `subjects` in SEARCH's fold form, kept once a search needed them (not stored). */
  subjectsFolded?: string[];
  /** The Date: field as an instant (ms), null when missing or unusable. */
  sent: number | null;
  /** addr-mailbox of the first mailbox of From, To, Cc (casemapped; "" when none). */
  from: string;
  to: string;
  cc: string;
  /** RFC 5957: display name of the first From / To mailbox, else its addr-spec. */
  displayFrom: string;
  displayTo: string;
  /** Message-ID ("<...>"), null when missing. */
  messageId: string | null;
  /** References msg-ids in order, or the first msg-id of In-Reply-To when there are none. */
  references: string[];
  /** RFC 8474 EMAILID; null until the whole message was read (see emailIdOf). */
  emailId: string | null;
}

/** i;unicode-casemap (RFC 5051 §2): title (here upper) case, then compatibility decomposition. */
export function casemap(s: string): string {
  const upper = s.toUpperCase();
  return /^[\x20-\x7e]*$/.test(upper) ? upper : upper.normalize("NFKD");
}

/** Code-point order of two strings (RFC 5051 compares octets of UTF-8, which is the same). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (code points above U+FFFF) sort after U+E000-U+FFFF in code-point order.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x2000;
    else if (x >= 0xe000) x -= 0x800;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x2000;
    else if (y >= 0xe000) y -= 0x800;
    return x - y;
  }
  return a.length - b.length;
}

const WSP = /[ \t\r\n]+/g;
/** subj-blob (RFC 5256 §5): "[" *BLOBCHAR "]" *WSP, BLOBCHAR being any CHAR but "[" and "]". */
const BLOB = /^\[[^[\]]*\][ \t]*/;
/** subj-refwd: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
const REFWD = /^(?:re|fwd?)[ \t]*(?:\[[^[\]]*\][ \t]*)?:/i;

/**
 * The base subject of RFC 5256 §2.1 (not yet casemapped) and whether a reply or forward
 * marker was removed. Every loop removes at least one character, so it ends; each step
 * looks at the start or the end only.
 */
export function baseSubject(raw: string): { base: string; reply: boolean } {
  // (1) encoded words decoded, white space runs made one space.
  let s = decodeEncodedWords(raw).replace(WSP, " ");
  let reply = false;
  for (;;) {
    // (2) subj-trailer: "(fwd)" and white space at the end.
    for (;;) {
      if (s.endsWith(" ")) s = s.slice(0, -1);
      else if (/\(fwd\)$/i.test(s)) {
        s = s.slice(0, -5);
        reply = true;
      } else break;
    }
    // (5) repeat (3) and (4) until neither removes anything.
    for (let changed = true; changed;) {
      changed = false;
      // (3) subj-leader: *subj-blob subj-refwd, or white space.
      for (;;) {
        if (s.startsWith(" ")) {
          s = s.slice(1);
          changed = true;
          continue;
        }
        let rest = s;
        let m;
        while ((m = BLOB.exec(rest))) rest = rest.slice(m[0].length);
        m = REFWD.exec(rest);
        if (!m) break;
        s = rest.slice(m[0].length);
        reply = true;
        changed = true;
      }
      // (4) a leading subj-blob goes when something is left after it.
      const blob = BLOB.exec(s);
      if (blob && blob[0].length < s.length && s.slice(blob[0].length).trim() !== "") {
        s = s.slice(blob[0].length);
        changed = true;
      }
    }
    // (6) "[fwd:" ... "]" around the whole: remove and start again at (2).
    if (/^\[fwd:/i.test(s) && s.endsWith("]")) {
      s = s.slice(5, -1);
      reply = true;
      continue;
    }
    return { base: s, reply };
  }
}

/** The first mailbox of an address list (group markers skipped). */
function firstMailbox(list: ParsedAddress[]): ParsedAddress | undefined {
  return list.find((a) => a.mailbox !== null && a.host !== null);
}

function addrSpec(a: ParsedAddress): string {
  return a.host && a.host !== "MISSING_DOMAIN" ? `${a.mailbox}@${a.host}` : a.mailbox ?? "";
}

/** RFC 5957 §2: the display name when there is one, else the addr-spec. */
function displayOf(a: ParsedAddress | undefined): string {
  if (!a) return "";
  const name = a.name === null ? "" : decodeEncodedWords(a.name).replace(WSP, " ").trim();
  return name !== "" ? name : addrSpec(a);
}

/**
 * The forms an address field is searched in (SEARCH FROM, TO, CC, BCC): the decoded value
 * as written, and each mailbox as `Display Name <local@domain>` with comments, quotes and
 * folding gone, so a search for the address, its local part, its domain or its display
 * name (RFC 2047 encoded or not) finds it however the field was written.
 */
export function addressForms(rawValues: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of rawValues) {
    out.push(decodeEncodedWords(raw));
    for (const a of parseAddressList(raw)) {
      if (a.mailbox === null || a.host === null) continue; // group markers
      const name = a.name === null ? "" : decodeEncodedWords(a.name).replace(WSP, " ").trim();
      out.push(name ? `${name} <${addrSpec(a)}>` : `<${addrSpec(a)}>`);
    }
  }
  return out;
}

/** Raw (undecoded), unfolded values of the top-level header fields SORT and THREAD read. */
export function headerFields(
  bytes: Uint8Array,
  start: number,
  end: number,
): Map<string, string[]> {
  const wanted = new Set([
    "subject",
    "date",
    "from",
    "to",
    "cc",
    "message-id",
    "references",
    "in-reply-to",
  ]);
  const out = new Map<string, string[]>();
  forEachField(bytes, start, end, (f) => {
    if (!wanted.has(f.name)) return;
    const list = out.get(f.name);
    const v = fieldValue(bytes, f);
    if (list) list.push(v);
    else out.set(f.name, [v]);
  }, "skip");
  return out;
}

/** RFC 8474 objectid: 1 to 255 of A-Z a-z 0-9 "_" "-"; a prefix letter, then base64url. */
export function digestId(prefix: string, data: Uint8Array | string): string {
  return prefix + createHash("sha256").update(data).digest("base64url").slice(0, 24);
}

/** RFC 8474 §5.1 EMAILID of a message: a digest of all its bytes. */
export function emailIdOf(bytes: Uint8Array): string {
  return digestId("M", bytes);
}

/**
 * The keys of one message from its bytes and the extent of its top-level header
 * (`headerStart` .. `bodyStart`). `whole`: `bytes` is the whole message (the EMAILID is
 * computed), not just its header block.
 */
export function computeKeys(
  bytes: Uint8Array,
  headerStart: number,
  bodyStart: number,
  whole = true,
): MessageKeys {
  const f = headerFields(bytes, headerStart, bodyStart);
  const first = (name: string) => f.get(name)?.[0];
  const subjectRaw = first("subject") ?? "";
  const { base, reply } = baseSubject(subjectRaw);
  const date = first("date");
  const from = parseAddressList(first("from") ?? "");
  const to = parseAddressList(first("to") ?? "");
  const cc = parseAddressList(first("cc") ?? "");
  const mailbox = (list: ParsedAddress[]) => casemap(firstMailbox(list)?.mailbox ?? "");
  const ids = messageIds(first("message-id"));
  let references = messageIds((f.get("references") ?? []).join(" "));
  if (references.length === 0) references = messageIds(first("in-reply-to")).slice(0, 1);
  return {
    subject: casemap(base),
    reply,
    subjects: (f.get("subject") ?? []).map((v) => decodeEncodedWords(v)),
    sent: date === undefined ? null : parseDate(date)?.time ?? null,
    from: mailbox(from),
    to: mailbox(to),
    cc: mailbox(cc),
    displayFrom: casemap(displayOf(firstMailbox(from))),
    displayTo: casemap(displayOf(firstMailbox(to))),
    messageId: ids[0] ?? null,
    references,
    emailId: whole ? emailIdOf(bytes) : null,
  };
}

/**
 * The keys of a message from its bytes: the whole message (`whole`), or its header block
 * up to and including the empty line (or a prefix of a header too long to read whole).
 */
export function keysOfMessage(bytes: Uint8Array, whole: boolean): MessageKeys {
  return computeKeys(bytes, 0, headerEnd(bytes, 0, bytes.length), whole);
}

/**
 * Messages up to this size get their EMAILID when stored; a bigger one's is left for its
 * first use (hashing megabytes would hold the event loop during a delivery).
 */
const EMAILID_AT_STORE_MAX = 1 << 20;

/**
 * The keys of a message the store takes in, in the form the folder index keeps
 * (MailStore's `messageKeys` hook, so deliveries, APPEND and MULTIAPPEND store them with
 * the message and SORT / SEARCH never read its file for them).
 */
export function indexKeysText(bytes: Uint8Array, whole: boolean): string {
  const hash = whole && bytes.length <= EMAILID_AT_STORE_MAX;
  const end = headerEnd(bytes, 0, bytes.length);
  return encodeKeys(computeKeys(hash ? bytes : bytes.subarray(0, end), 0, end, hash));
}

/**
 * RFC 8474 §5.2 THREADID: messages of one thread share it. Ours is a digest of the thread's
 * first message-id as the message names it (the first of References, else In-Reply-To,
 * else its own Message-ID), so it never changes and needs no stored state; a message
 * with none of these is a thread of its own (null while its EMAILID is not known).
 */
export function threadIdOf(k: MessageKeys): string | null {
  const root = k.references[0] ?? k.messageId;
  if (root) return digestId("T", root);
  return k.emailId === null ? null : "T" + k.emailId.slice(1);
}

/** The keys as stored in the index: a JSON array led by KEYS_VERSION. */
export function encodeKeys(k: MessageKeys): string {
  return JSON.stringify([
    KEYS_VERSION,
    k.subject,
    k.reply ? 1 : 0,
    k.subjects,
    k.sent,
    k.from,
    k.to,
    k.cc,
    k.displayFrom,
    k.displayTo,
    k.messageId,
    k.references,
    k.emailId,
  ]);
}

const NO_REFERENCES: string[] = Object.freeze([]) as unknown as string[];

/** The stored form back, or null when it is of another version or unreadable. */
export function decodeKeys(text: string): MessageKeys | null {
  try {
    const a = JSON.parse(text);
    if (!Array.isArray(a) || a[0] !== KEYS_VERSION || a.length !== 13) return null;
    if (a[12] !== null && typeof a[12] !== "string") return null;
    return {
      subject: a[1],
      reply: a[2] === 1,
      subjects: a[3],
      sent: a[4],
      from: a[5],
      to: a[6],
      cc: a[7],
      displayFrom: a[8],
      displayTo: a[9],
      messageId: a[10],
      // Most messages have none: one shared (frozen) empty list, not 100,000.
      references: a[11].length === 0 ? NO_REFERENCES : a[11],
      emailId: a[12],
    };
  } catch {
    return null;
  }
}
