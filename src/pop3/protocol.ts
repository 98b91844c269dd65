/**
 * POP3 wire syntax (RFC 1939 §3, RFC 2449 §8): command-line parsing, message-number
 * arguments, status lines with extended response codes (RFC 2449 §8, RFC 3206) and the
 * CAPA list. Pure functions over bytes and strings, so they are unit-tested and fuzzed
 * apart from sockets.
 */
import { toVisibleAscii } from "../message/controls.ts";
import { shortAscii } from "../net/ascii_text.ts";

/**
 * RFC 2449 §4 limits a command line to 255 octets; clients in the field (long SASL
 * initial responses, long passwords) exceed that, so we accept more before answering
 * "-ERR line too long" (Postel). SASL continuation lines get their own, larger limit.
 */
export const MAX_COMMAND_LINE = 1024;
export const MAX_SASL_LINE = 8192;

/** Extended response codes: RFC 2449 §8.1 (IN-USE, LOGIN-DELAY), RFC 3206 (SYS, AUTH). */
export type RespCode = "IN-USE" | "LOGIN-DELAY" | "SYS/TEMP" | "SYS/PERM" | "AUTH";

/** A client-facing failure: becomes one `-ERR [CODE] text` line, the session goes on. */
export class Pop3Error extends Error {
  readonly code: RespCode | null;
  constructor(text: string, code: RespCode | null = null) {
    super(text);
    this.code = code;
  }

  get line(): string {
    return errLine(this.message, this.code);
  }
}

export function okLine(text: string): string {
  return text ? `+OK ${text}\r\n` : "+OK\r\n";
}

export function errLine(text: string, code: RespCode | null = null): string {
  return code ? `-ERR [${code}] ${text}\r\n` : `-ERR ${text}\r\n`;
}

export interface CommandLine {
  /** Upper-cased keyword (RFC 1939 §3: keywords are case-insensitive). */
  verb: string;
  /** Everything after the first space, unchanged (PASS keeps spaces, RFC 1939 §7). */
  rest: string;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Splits a command line into keyword and argument text. Arguments are decoded as UTF-8
 * when valid (user names and passwords may be non-ASCII), else byte for byte.
 */
export function parseCommandLine(line: Uint8Array): CommandLine {
  const known = knownVerbLine(line);
  if (known) return known;
  let text = shortAscii(line);
  if (text === null) {
    try {
      text = utf8.decode(line);
    } catch {
      text = latin1.decode(line);
    }
  }
  const space = text.indexOf(" ");
  const verb = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  return { verb, rest: space < 0 ? "" : text.slice(space + 1) };
}

/** Upper-cased keywords of up to 4 letters seen so far, by their letters packed in a number. */
const verbStrings = new Map<number, string>();
/** Bounds verbStrings: a client sending random words must not grow it. */
const MAX_VERB_STRINGS = 64;

/**
 * parseCommandLine() of a line that starts with a keyword of 1-4 ASCII letters (every
 * RFC 1939 command) and is ASCII: the keyword as a string already made, instead of
 * building and upper-casing a new one per command. Null for any other line.
 */
function knownVerbLine(line: Uint8Array): CommandLine | null {
  const n = line.length;
  if (n > 64) return null;
  let key = 0;
  let i = 0;
  for (; i < n && i < 5; i++) {
    const c = line[i];
    if (c === 0x20) break;
    const upper = c & 0xdf; // ASCII letters only: a-z to A-Z
    if (upper < 0x41 || upper > 0x5a) return null;
    key = key * 256 + upper;
  }
  if (i === 0 || i > 4) return null;
  let rest = "";
  for (let j = i + 1; j < n; j++) {
    const c = line[j];
    if (c > 0x7f) return null;
    rest += String.fromCharCode(c);
  }
  let verb = verbStrings.get(key);
  if (verb === undefined) {
    verb = "";
    for (let j = 0; j < i; j++) verb += String.fromCharCode(line[j] & 0xdf);
    if (verbStrings.size < MAX_VERB_STRINGS) verbStrings.set(key, verb);
  }
  return { verb, rest };
}

/** Whitespace-separated arguments (RFC 1939 §3: "separated by a single SPACE"; we allow runs). */
export function splitArgs(rest: string): string[] {
  const trimmed = rest.trim();
  if (trimmed === "") return [];
  // One argument (RETR n, DELE n): no regular expression to run.
  if (trimmed.indexOf(" ") < 0 && trimmed.indexOf("\t") < 0) return [trimmed];
  return trimmed.split(/[ \t]+/);
}

/** A decimal number without sign or leading junk, small enough to be a message number. */
export function parseNumber(word: string | undefined): number | null {
  if (word === undefined || word.length < 1 || word.length > 9) return null;
  let n = 0;
  for (let i = 0; i < word.length; i++) {
    const d = word.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return n;
}

/** The keyword as it may be echoed in an error: printable ASCII only, bounded. */
export function printableVerb(verb: string): string {
  const clean = toVisibleAscii(verb);
  return clean.length > 20 ? clean.slice(0, 20) + "..." : clean;
}

export interface CapabilityOptions {
  /** USER/PASS and SASL PLAIN may be used on this connection (PlainAuthWithoutTLS). */
  plainAuthAllowed: boolean;
  /** A certificate is configured and the connection is not yet secure (RFC 2595 §4). */
  stlsAvailable: boolean;
  implementation: string;
}

/**
 * The CAPA body (RFC 2449 §5-6), one capability per line. USER and SASL are listed only
 * where they can succeed, so clients pick STLS first instead of failing a login.
 */
export function capabilities(opts: CapabilityOptions): string[] {
  const caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
  if (opts.plainAuthAllowed) caps.push("USER", "SASL PLAIN");
  if (opts.stlsAvailable) caps.push("STLS");
  caps.push(`IMPLEMENTATION ${opts.implementation}`);
  return caps;
}

/**
 * A multi-line text response (CAPA, LIST, UIDL): status, lines, terminating ".".
 * The lines are ours (numbers, sizes, printable ids), so none needs byte-stuffing.
 */
export function multilineText(status: string, lines: readonly string[]): string {
  let out = okLine(status);
  for (const l of lines) out += l + "\r\n";
  return out + ".\r\n";
}
