/**
 * One mbox message (mbox.ts) made ready for the store: `>From ` unquoted (mboxrd),
 * the mbox format's own headers turned into flags and UIDs and removed, line endings
 * CRLF. Everything else stays byte for byte.
 *
 * The headers an mbox keeps its state in (as mutt, Pine/UW-IMAP and Dovecot write them):
 * - `Status:` R = \Seen, O = old (seen by a client; no IMAP flag);
 * - `X-Status:` A = \Answered, F = \Flagged, T = \Draft, D = \Deleted;
 * - `X-Keywords:` keyword names (space or comma separated);
 * - `X-UID:` the message's UID; `X-IMAPbase:` (first message) or `X-IMAP:` (a
 *   "FOLDER INTERNAL DATA" pseudo message, not imported) `<uidvalidity> <uidnext> ...`;
 * - `Content-Length:` when it delimited the message (mboxcl2).
 */
import { toCrlf } from "../message/line_endings.ts";
import type { MboxEntry } from "./mbox.ts";

const LF = 0x0a;
const GT = 0x3e;
const FROM_ = new TextEncoder().encode("From ");

export interface MboxMessage {
  /** The message as stored: unquoted, mbox headers removed, CRLF line endings. */
  data: Uint8Array;
  /** IMAP flags (system flags and keywords). */
  flags: string[];
  /** The UID from X-UID, if any. */
  uid: number | null;
  /** UIDVALIDITY and next UID from X-IMAPbase or X-IMAP, if any. */
  base: { uidValidity: number; nextUid: number } | null;
  /** The folder-internal pseudo message of UW-IMAP and Dovecot (X-IMAP): not a message. */
  pseudo: boolean;
  /** Internal date from the From_ line (ms), null when it has none that parses. */
  internalDate: number | null;
}

/** mboxrd: every line of the form ">+From " loses one ">". */
export function unquoteFromLines(raw: Uint8Array): Uint8Array {
  const cut: number[] = [];
  for (let at = 0; at < raw.length;) {
    if (raw[at] === GT) {
      let p = at;
      while (p < raw.length && raw[p] === GT) p++;
      let from = p + FROM_.length <= raw.length;
      for (let i = 0; from && i < FROM_.length; i++) from = raw[p + i] === FROM_[i];
      if (from) cut.push(at);
    }
    const nl = raw.indexOf(LF, at);
    if (nl < 0) break;
    at = nl + 1;
  }
  if (cut.length === 0) return raw;
  const out = new Uint8Array(raw.length - cut.length);
  let o = 0, from = 0;
  for (const c of cut) {
    out.set(raw.subarray(from, c), o);
    o += c - from;
    from = c + 1;
  }
  out.set(raw.subarray(from), o);
  return out;
}

interface HeaderField {
  /** Lower-cased name. */
  name: string;
  value: string;
  start: number;
  end: number;
}

const latin1 = new TextDecoder("latin1");

/** The header fields (with continuation lines) up to the empty line. */
function headerFields(msg: Uint8Array): HeaderField[] {
  const fields: HeaderField[] = [];
  let at = 0;
  while (at < msg.length) {
    const nl = msg.indexOf(LF, at);
    if (nl === at || (nl === at + 1 && msg[at] === 0x0d)) break; // the empty line
    let end = nl < 0 ? msg.length : nl + 1;
    // Folded lines (RFC 5322 2.2.3) start with SP or HTAB.
    while (end < msg.length && (msg[end] === 0x20 || msg[end] === 0x09)) {
      const more = msg.indexOf(LF, end);
      end = more < 0 ? msg.length : more + 1;
    }
    const text = latin1.decode(msg.subarray(at, end));
    const colon = text.indexOf(":");
    if (colon > 0) {
      fields.push({
        name: text.slice(0, colon).trim().toLowerCase(),
        value: text.slice(colon + 1).replace(/\r?\n[ \t]*/g, " ").trim(),
        start: at,
        end,
      });
    }
    at = end;
  }
  return fields;
}

const STATUS_FLAGS: Record<string, string> = { R: "\\Seen" };
const X_STATUS_FLAGS: Record<string, string> = {
  A: "\\Answered",
  F: "\\Flagged",
  T: "\\Draft",
  D: "\\Deleted",
};
/** An IMAP keyword is an atom (RFC 3501 9: no specials, no "\\", no controls). */
// deno-lint-ignore no-control-regex
const KEYWORD = /^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/;

function parseBase(value: string): { uidValidity: number; nextUid: number } | null {
  const m = /^(\d{1,10})\s+(\d{1,10})/.exec(value);
  if (!m || Number(m[1]) === 0 || Number(m[1]) > 0xffffffff) return null;
  return { uidValidity: Number(m[1]), nextUid: Math.max(Number(m[2]), 1) };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const FROM_DATE =
  /(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) +(\d{1,2}):(\d\d)(?::(\d\d))?(?: +([+-]\d{4}|[A-Z]{1,5}))? +(\d{4})(?: +([+-]\d{4}))?/;

/**
 * The date of a From_ line ("sender Thu Dec  6 04:42:48 2024"), as UTC unless the line
 * names a numeric zone (writers use their local time and rarely say which).
 */
export function fromLineDate(fromLine: string): number | null {
  const m = FROM_DATE.exec(fromLine);
  if (!m) return null;
  const [, mon, day, hh, mm, ss, zoneBefore, year, zoneAfter] = m;
  let t = Date.UTC(
    Number(year),
    MONTHS.indexOf(mon),
    Number(day),
    Number(hh),
    Number(mm),
    Number(ss ?? 0),
  );
  const zone = [zoneBefore, zoneAfter].find((z) => z && /^[+-]\d{4}$/.test(z));
  if (zone) {
    const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5));
    t -= (zone[0] === "-" ? -1 : 1) * minutes * 60_000;
  }
  return Number.isFinite(t) ? t : null;
}

/** Turns a split mbox entry into the message to store, its flags and UIDs. */
export function convertMboxEntry(entry: MboxEntry): MboxMessage {
  const msg = entry.byLength ? entry.raw : unquoteFromLines(entry.raw);
  const flags = new Set<string>();
  let uid: number | null = null;
  let base: MboxMessage["base"] = null;
  let pseudo = false;
  const drop: HeaderField[] = [];
  for (const f of headerFields(msg)) {
    switch (f.name) {
      case "status":
        for (const ch of f.value) if (STATUS_FLAGS[ch]) flags.add(STATUS_FLAGS[ch]);
        break;
      case "x-status":
        for (const ch of f.value) if (X_STATUS_FLAGS[ch]) flags.add(X_STATUS_FLAGS[ch]);
        break;
      case "x-keywords":
        for (const k of f.value.split(/[\s,]+/)) if (k && KEYWORD.test(k)) flags.add(k);
        break;
      case "x-uid": {
        const n = /^\d{1,10}$/.test(f.value) ? Number(f.value) : 0;
        if (n > 0 && n <= 0xffffffff) uid = n;
        break;
      }
      case "x-imapbase":
        base = parseBase(f.value) ?? base;
        break;
      case "x-imap":
        base = parseBase(f.value) ?? base;
        pseudo = true;
        break;
      case "content-length":
        if (!entry.byLength) continue;
        break;
      default:
        continue;
    }
    drop.push(f);
  }
  return {
    data: toCrlf(without(msg, drop)),
    flags: [...flags],
    uid,
    base,
    pseudo,
    internalDate: fromLineDate(entry.fromLine),
  };
}

/** The message without the given header fields (in order of position). */
function without(msg: Uint8Array, fields: readonly HeaderField[]): Uint8Array {
  if (fields.length === 0) return msg;
  const removed = fields.reduce((n, f) => n + f.end - f.start, 0);
  const out = new Uint8Array(msg.length - removed);
  let o = 0, from = 0;
  for (const f of fields) {
    out.set(msg.subarray(from, f.start), o);
    o += f.start - from;
    from = f.end;
  }
  out.set(msg.subarray(from), o);
  return out;
}
