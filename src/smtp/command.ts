/**
 * Pure parsers for SMTP command lines (RFC 5321 4.1): the verb and its argument,
 * MAIL/RCPT paths (4.1.2) and ESMTP parameters (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8, RFC 4954 AUTH=, RFC 3461 DSN: RET, ENVID, NOTIFY, ORCPT). No I/O,
 * so they are unit-tested and fuzzed directly. Errors are thrown as SmtpError with
 * their reply codes.
 */
import { hasControl } from "../message/controls.ts";
import type { MailParams, RcptDsn } from "../delivery/types.ts";
import { decodeXtext } from "../message/xtext.ts";
import { shortAscii } from "../net/ascii_text.ts";
import { BARE_LF_COMMAND, fail, SmtpError } from "./replies.ts";

export interface Command {
  /** Upper-cased verb (`MAIL`); "" for an empty line. */
  verb: string;
  /** Everything after the verb and its separating space, right-trimmed. */
  arg: string;
}

const CR = 13;
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** ASCII lines up to this long are made into a string here; longer ones by the decoder. */
const SHORT_LINE = 1024;

/**
 * The line as text: US-ASCII (nearly every command) without a call into the runtime's
 * decoder, which cost about 2 µs a command (10 a message from smtp-source); anything
 * else as strict UTF-8 (RFC 6531), undefined when it is not valid.
 */
function lineText(line: Uint8Array): string | undefined {
  const ascii = shortAscii(line, SHORT_LINE);
  if (ascii !== null) return ascii;
  try {
    return utf8.decode(line);
  } catch {
    return undefined;
  }
}

/**
 * Splits a command line (without its CRLF). A CR inside the line is a bare CR, which
 * RFC 5321 2.3.8 forbids (and which SMTP smuggling relies on).
 */
export function parseCommandLine(line: Uint8Array): Command {
  if (line.indexOf(CR) >= 0) throw new SmtpError(BARE_LF_COMMAND);
  let text = lineText(line);
  if (text === undefined) fail(500, "5.5.2", "Error: command line is not valid UTF-8");
  // Trailing blanks, trimmed by a scan: /[ \t]+$/ retries from every blank of a long run
  // inside the line (quadratic in the line's length).
  let end = text.length;
  while (end > 0 && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  text = text.slice(0, end);
  const sp = text.search(/[ \t]/);
  const verb = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
  const arg = sp < 0 ? "" : text.slice(sp + 1).replace(/^[ \t]+/, "");
  return { verb, arg };
}

/** A parsed MAIL FROM or RCPT TO argument. */
export interface PathArgument {
  /** The mailbox as written, without <> and source route; "" for the null path. */
  address: string;
  /** ESMTP parameters: upper-cased keyword -> value (null when no "="). */
  params: Map<string, string | null>;
}

// RFC 5321 4.1.2 atext (RFC 5322 3.2.3).
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const ATEXT_UTF8 = /^(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]|[\u0080-\uffff])+$/;
const QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const QUOTED_UTF8 = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|[\u0080-\uffff]|\\[\x20-\x7e])*"$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const LABEL_UTF8 =
  /^(?:[A-Za-z0-9]|[\u0080-\uffff])(?:(?:[A-Za-z0-9-]|[\u0080-\uffff])*(?:[A-Za-z0-9]|[\u0080-\uffff]))?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NON_ASCII = /[\u0080-\uffff]/;

/** RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets. */
export const MAX_PATH = 256;

/**
 * Parses `FROM:<path> params` / `TO:<path> params`. `keyword` is "FROM" or "TO".
 * Lenient where real clients are sloppy (spaces after the colon, a missing pair of
 * angle brackets), strict about what can reach a mailbox name.
 */
export function parsePathArgument(
  arg: string,
  keyword: "FROM" | "TO",
  opts: { smtpUtf8?: boolean } = {},
): PathArgument {
  const bad = keyword === "FROM" ? "5.1.7" : "5.1.3";
  const syntax = keyword === "FROM"
    ? "Syntax: MAIL FROM:<address> [parameters]"
    : "Syntax: RCPT TO:<address> [parameters]";
  const prefix = keyword + ":";
  if (arg.slice(0, prefix.length).toUpperCase() !== prefix) fail(501, "5.5.4", syntax);
  const rest = arg.slice(prefix.length).replace(/^[ \t]+/, "");
  if (rest === "") fail(501, "5.5.4", syntax);
  let raw: string;
  let tail: string;
  if (rest.startsWith("<")) {
    const end = closingBracket(rest);
    if (end < 0) fail(501, bad, "Error: malformed address: missing >");
    raw = rest.slice(1, end);
    tail = rest.slice(end + 1);
    if (tail !== "" && !/^[ \t]/.test(tail)) fail(501, bad, "Error: malformed address");
  } else {
    // Not RFC 5321, but common (Postfix accepts it): the address up to the first space.
    const sp = rest.search(/[ \t]/);
    raw = sp < 0 ? rest : rest.slice(0, sp);
    tail = sp < 0 ? "" : rest.slice(sp);
  }
  if (raw.length + 2 > MAX_PATH) fail(501, bad, "Error: path too long (RFC 5321 4.5.3.1.3)");
  const params = parseParams(tail);
  const utf8Allowed = opts.smtpUtf8 || (keyword === "FROM" && params.has("SMTPUTF8"));
  const address = parseMailbox(raw, keyword, utf8Allowed, bad);
  return { address, params };
}

/** Index of the ">" that closes the path (quoted local parts may contain ">"). */
function closingBracket(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ">") return i;
  }
  return -1;
}

function parseMailbox(raw: string, keyword: "FROM" | "TO", utf8Ok: boolean, bad: string): string {
  if (raw === "") {
    // RFC 5321 4.1.1.2: the null reverse-path, for MAIL only.
    if (keyword === "FROM") return "";
    fail(501, bad, "Error: the null path is not a recipient");
  }
  if (hasControl(raw)) fail(501, bad, "Error: control characters in address");
  let box = raw;
  // RFC 5321 4.1.2 / C: a source route (@a,@b:) is accepted and ignored.
  if (box.startsWith("@")) {
    const colon = box.indexOf(":");
    if (colon < 0) fail(501, bad, "Error: malformed source route");
    for (const hop of box.slice(0, colon).split(",")) {
      if (!hop.startsWith("@") || !isDomain(hop.slice(1), utf8Ok)) {
        fail(501, bad, "Error: malformed source route");
      }
    }
    box = box.slice(colon + 1);
  }
  if (NON_ASCII.test(box) && !utf8Ok) {
    // RFC 6531 3.7.4.1 / RFC 3463 (as extended by RFC 6531) 5.6.7.
    fail(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
  }
  // RFC 5321 4.5.1: "Postmaster" without a domain must be accepted as a recipient.
  if (keyword === "TO" && box.toLowerCase() === "postmaster") return box;
  const at = box.lastIndexOf("@");
  if (at <= 0 || at === box.length - 1) {
    fail(501, bad, "Error: address must be of the form name@domain");
  }
  const local = box.slice(0, at);
  const domain = box.slice(at + 1);
  if (!isLocalPart(local, utf8Ok)) fail(501, bad, "Error: malformed local part");
  if (!isDomain(domain, utf8Ok) && !isAddressLiteral(domain)) {
    fail(501, bad, "Error: malformed domain");
  }
  return box;
}

function isLocalPart(local: string, utf8Ok: boolean): boolean {
  if (local.startsWith('"')) return (utf8Ok ? QUOTED_UTF8 : QUOTED).test(local);
  const atom = utf8Ok ? ATEXT_UTF8 : ATEXT;
  return local.split(".").every((a) => atom.test(a));
}

/** RFC 5321 4.1.2 Domain (U-labels too under SMTPUTF8, RFC 6531 3.3). */
export function isDomain(domain: string, utf8Ok = false): boolean {
  const d = domain.endsWith(".") ? domain.slice(0, -1) : domain;
  if (d === "" || d.length > 255) return false;
  const label = utf8Ok ? LABEL_UTF8 : LABEL;
  return d.split(".").every((l) => l.length <= 63 && label.test(l));
}

/** RFC 5321 4.1.3 address literals: [IPv4], [IPv6:...], [tag:content]. */
export function isAddressLiteral(text: string): boolean {
  if (!text.startsWith("[") || !text.endsWith("]")) return false;
  const inner = text.slice(1, -1);
  if (IPV4.test(inner)) return true;
  const m = /^([A-Za-z0-9-]*[A-Za-z0-9]):([\x21-\x5a\x5e-\x7e]+)$/.exec(inner);
  if (!m) return false;
  if (m[1].toUpperCase() === "IPV6") return /^[0-9A-Fa-f:.]+$/.test(m[2]) && m[2].includes(":");
  return true;
}

/** RFC 5321 4.1.2 Mail-parameters: `keyword[=value]` separated by spaces. */
export function parseParams(tail: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (const item of tail.split(/[ \t]+/)) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const key = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : item.slice(eq + 1);
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) {
      fail(501, "5.5.4", `Error: bad parameter "${clip(key)}"`);
    }
    // esmtp-value: any printable character except "=" (UTF-8 too, RFC 6531 3.3).
    if (value !== null && (value === "" || /[= ]/.test(value) || hasControl(value))) {
      fail(501, "5.5.4", `Error: bad value for parameter ${key}`);
    }
    if (params.has(key)) fail(501, "5.5.4", `Error: duplicate parameter ${key}`);
    params.set(key, value);
  }
  return params;
}

/**
 * The MAIL parameters this server implements (the ones EHLO advertises). Anything
 * else is 555 5.5.4 (RFC 5321 4.1.1.11).
 */
export function mailParams(params: Map<string, string | null>): MailParams {
  const out: MailParams = {};
  for (const [key, value] of params) {
    switch (key) {
      case "SIZE": // RFC 1870 6
        if (value === null || !/^\d{1,20}$/.test(value)) {
          fail(501, "5.5.4", "Error: bad SIZE syntax");
        }
        out.size = Number(value);
        break;
      case "BODY": { // RFC 6152 3
        const body = (value ?? "").toUpperCase();
        if (body === "7BIT" || body === "8BITMIME") out.body = body;
        else if (body === "BINARYMIME") fail(555, "5.5.4", "Error: BINARYMIME is not supported");
        else fail(501, "5.5.4", "Error: BODY must be 7BIT or 8BITMIME");
        break;
      }
      case "SMTPUTF8": // RFC 6531 3.4
        if (value !== null) fail(501, "5.5.4", "Error: SMTPUTF8 takes no value");
        out.smtpUtf8 = true;
        break;
      case "AUTH": // RFC 4954 5: accepted; the authenticated identity is the session's.
        break;
      case "RET": { // RFC 3461 4.3
        const ret = (value ?? "").toUpperCase();
        if (ret !== "FULL" && ret !== "HDRS") fail(501, "5.5.4", "Error: RET must be FULL or HDRS");
        out.ret = ret;
        break;
      }
      case "ENVID": { // RFC 3461 4.4: xtext, at most 100 characters
        const envid = value === null ? null : decodeXtext(value);
        if (envid === null || value!.length > 100 || !/^[\x21-\x7e]+$/.test(envid)) {
          fail(501, "5.5.4", "Error: ENVID must be 1..100 characters of xtext");
        }
        out.envid = envid;
        break;
      }
      default:
        fail(555, "5.5.4", `Error: MAIL parameter ${clip(key)} not supported`);
    }
  }
  return out;
}

/** RCPT parameters: RFC 3461 NOTIFY (4.1) and ORCPT (4.2); anything else is 555 5.5.4. */
export function rcptParams(params: Map<string, string | null>): RcptDsn {
  const out: RcptDsn = {};
  for (const [key, value] of params) {
    if (key === "NOTIFY") {
      const words = (value ?? "").toUpperCase().split(",");
      const known = ["SUCCESS", "FAILURE", "DELAY"];
      const ok = words.length > 0 && new Set(words).size === words.length &&
        (words.length === 1 && words[0] === "NEVER" || words.every((w) => known.includes(w)));
      if (!ok) {
        fail(501, "5.5.4", "Error: NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
      }
      out.notify = words as RcptDsn["notify"];
    } else if (key === "ORCPT") {
      // addr-type ";" xtext (RFC 3461 4.2), utf-8-addr-xtext for "utf-8" (RFC 6533 3).
      const m = value === null ? null : /^([A-Za-z0-9-]+);(.+)$/.exec(value);
      const address = m ? decodeXtext(m[2]) : null;
      if (!m || address === null || value!.length > 500 || hasControl(address)) {
        fail(501, "5.5.4", "Error: ORCPT must be addr-type;xtext, e.g. rfc822;user@example.com");
      }
      out.orcpt = { type: m[1].toLowerCase(), address };
    } else {
      fail(555, "5.5.4", `Error: RCPT parameter ${clip(key)} not supported`);
    }
  }
  return out;
}

/** `BDAT <size> [LAST]` (RFC 3030 2). */
export function parseBdat(arg: string): { size: number; last: boolean } {
  const m = /^(\d{1,15})(?:[ \t]+(LAST))?$/i.exec(arg);
  if (!m) fail(501, "5.5.4", "Syntax: BDAT <size> [LAST]");
  return { size: Number(m[1]), last: m[2] !== undefined };
}

function clip(text: string): string {
  return text.length > 40 ? text.slice(0, 40) + "..." : text;
}
