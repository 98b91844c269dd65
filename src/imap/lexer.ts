/**
 * The lexical layer of the IMAP command parser (RFC 3501 §9, RFC 9051 §9): turns the
 * assembled lines and literals of one command into its tag, name and argument tokens.
 * Pure; errors come back as values.
 */
import type { ParseEvent } from "./parser.ts";
import { shortAscii } from "../net/ascii_text.ts";

/** A lexical token of a command's arguments. */
export type Token =
  /** Atoms, numbers, NIL, flags, sequence sets, `BODY[...]<...>` fetch atts. */
  | { kind: "atom"; value: string }
  /** A quoted string or a literal (bytes exactly as sent). */
  | { kind: "string"; bytes: Uint8Array; literal: boolean }
  /** A parenthesized list. */
  | { kind: "list"; items: Token[] }
  /** An APPEND message literal too large for memory, stored in a file by the session. */
  | { kind: "file"; file: SpooledLiteral };

/** A literal the session stored in a file (DirBase/incoming/) as it arrived. */
export interface SpooledLiteral {
  path: string;
  size: number;
}

/** A literal of a command: its octets, or the file they were stored in. */
export type LiteralValue = Uint8Array | SpooledLiteral;

export interface Command {
  tag: string;
  /** Command name, upper-cased ("UID" stays "UID"; its sub-command is the first arg). */
  name: string;
  args: Token[];
}

const MAX_DEPTH = 64;
const dec = new TextDecoder();

/**
 * `bytes` as text (UTF-8). Short ASCII runs, which tags, command names and nearly every
 * argument are, are built here: a TextDecoder call goes out to native code and cost
 * several per command (a sixth of the parse in a profile of FETCH n BODY.PEEK[]).
 */
function decodeText(bytes: Uint8Array): string {
  return shortAscii(bytes) ?? dec.decode(bytes);
}

/** A literal marker ending a line: `{n}`, `{n+}` (RFC 7888) or `~{n}` (RFC 3516). */
export const LITERAL_AT_END = /(~?)\{(\d{1,20})(\+?)\}$/;

/** The command name of a command's first line, upper-cased ("" when there is none). */
export function commandNameOf(line: Uint8Array | undefined): string {
  const tag = tagOf(line);
  if (!line || tag === null) return "";
  let end = tag.length + 1;
  while (end < line.length && end - tag.length < 32 && isAsciiLetterCode(line[end])) end++;
  return decodeText(line.subarray(tag.length + 1, end)).toUpperCase();
}

function isAsciiLetterCode(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** The tag of a (possibly malformed) command line, when it has a plausible one. */
export function tagOf(line: Uint8Array | undefined): string | null {
  if (!line) return null;
  let end = 0;
  while (end < line.length && end < 64 && isTagChar(line[end])) end++;
  if (end === 0 || (end < line.length && line[end] !== 0x20)) return null;
  return decodeText(line.subarray(0, end));
}

function isTagChar(c: number): boolean {
  // ASTRING-CHAR except "+" (RFC 3501 §9 "tag").
  return c > 0x20 && c < 0x7f && c !== 0x2b && !isAtomSpecial(c) || c === 0x5d;
}

/** atom-specials (RFC 3501 §9): ( ) { SP CTL % * " \ ] */
function isAtomSpecial(c: number): boolean {
  return c <= 0x20 || c >= 0x7f || c === 0x28 || c === 0x29 || c === 0x7b ||
    c === 0x25 || c === 0x2a || c === 0x22 || c === 0x5c || c === 0x5d;
}

/** Characters that end our lenient atom: SP, CTL, ( ) " and { at the start only. */
function endsAtom(c: number): boolean {
  return c <= 0x20 || c === 0x7f || c === 0x28 || c === 0x29 || c === 0x22;
}

class LexError extends Error {}

/** Tokenizes the assembled lines and literals of one command. */
export function tokenizeCommand(
  lines: readonly Uint8Array[],
  literals: readonly LiteralValue[],
): ParseEvent {
  const tag = tagOf(lines[0]);
  if (tag === null) {
    return { kind: "error", tag: null, text: "Missing or invalid tag" };
  }
  const lx = new Lexer(lines, literals);
  lx.pos = tag.length;
  try {
    if (!lx.space()) throw new LexError("Missing command");
    const nameTok = lx.token(0);
    if (nameTok.kind !== "atom" || !/^[A-Za-z]+$/.test(nameTok.value)) {
      throw new LexError("Invalid command name");
    }
    const args: Token[] = [];
    while (!lx.atEnd()) {
      if (!lx.space()) throw new LexError("Expected space between arguments");
      if (lx.atEnd()) break; // tolerate a trailing space
      args.push(lx.token(0));
    }
    return { kind: "command", command: { tag, name: nameTok.value.toUpperCase(), args } };
  } catch (e) {
    if (!(e instanceof LexError)) throw e;
    return { kind: "error", tag, text: e.message };
  }
}

/** Walks the lines of a command; a literal marker ends a line and pulls the next literal. */
class Lexer {
  pos = 0;
  #li = 0;
  #lit = 0;
  #lines: readonly Uint8Array[];
  #literals: readonly LiteralValue[];

  constructor(lines: readonly Uint8Array[], literals: readonly LiteralValue[]) {
    this.#lines = lines;
    this.#literals = literals;
  }

  get #line(): Uint8Array {
    return this.#lines[this.#li];
  }

  atEnd(): boolean {
    return this.pos >= this.#line.length && this.#li === this.#lines.length - 1;
  }

  #peek(): number {
    return this.pos < this.#line.length ? this.#line[this.pos] : -1;
  }

  /** Consumes one or more spaces; false if there is none. */
  space(): boolean {
    if (this.#peek() !== 0x20) return false;
    while (this.#peek() === 0x20) this.pos++;
    return true;
  }

  token(depth: number): Token {
    const c = this.#peek();
    if (c === -1) throw new LexError("Unexpected end of command");
    if (c === 0x28) return this.#list(depth);
    if (c === 0x22) return this.#quoted();
    if (c === 0x7b || (c === 0x7e && this.#line[this.pos + 1] === 0x7b)) return this.#literal();
    return this.#atom();
  }

  #list(depth: number): Token {
    if (depth >= MAX_DEPTH) throw new LexError("Lists nested too deeply");
    this.pos++; // (
    const items: Token[] = [];
    for (;;) {
      while (this.#peek() === 0x20) this.pos++;
      const c = this.#peek();
      if (c === 0x29) {
        this.pos++;
        return { kind: "list", items };
      }
      if (c === -1) throw new LexError("Unterminated list");
      items.push(this.token(depth + 1));
    }
  }

  #quoted(): Token {
    const line = this.#line;
    this.pos++;
    const out: number[] = [];
    for (;;) {
      if (this.pos >= line.length) throw new LexError("Unterminated quoted string");
      const c = line[this.pos++];
      if (c === 0x22) break;
      if (c === 0x5c) {
        const n = line[this.pos++];
        if (n !== 0x22 && n !== 0x5c) throw new LexError("Invalid escape in quoted string");
        out.push(n);
        continue;
      }
      if (c === 0) throw new LexError("NUL in quoted string");
      out.push(c);
    }
    return { kind: "string", bytes: Uint8Array.from(out), literal: false };
  }

  #literal(): Token {
    const line = this.#line;
    const rest = dec.decode(line.subarray(this.pos));
    if (!LITERAL_AT_END.test(rest) || !/^~?\{\d+\+?\}$/.test(rest)) {
      throw new LexError("Literal must end the line");
    }
    const value = this.#literals[this.#lit++];
    if (!value || this.#li + 1 >= this.#lines.length) throw new LexError("Missing literal");
    this.#li++;
    this.pos = 0;
    if (!(value instanceof Uint8Array)) return { kind: "file", file: value };
    return { kind: "string", bytes: value, literal: true };
  }

  #atom(): Token {
    const line = this.#line;
    const start = this.pos;
    let bracket = 0;
    while (this.pos < line.length) {
      const c = line[this.pos];
      // "[" opens a section only in a fetch att (BODY[...], BINARY.PEEK[...]), where the
      // brackets may hold spaces; elsewhere it is an ATOM-CHAR (RFC 3501 §9), as in the
      // mailbox name "a[b".
      if (c === 0x5b && (bracket > 0 || isSectionPrefix(line, start, this.pos))) {
        bracket++;
      } else if (c === 0x5d && bracket > 0) bracket--;
      else if (bracket === 0 && endsAtom(c)) break;
      else if (c < 0x20 || c === 0x7f) throw new LexError("Control character in command");
      this.pos++;
    }
    if (bracket > 0) throw new LexError("Unterminated [ in argument");
    if (this.pos === start) throw new LexError(`Unexpected character "${printable(line[start])}"`);
    const value = asciiAt(line, start, this.pos) ?? decodeText(line.subarray(start, this.pos));
    return { kind: "atom", value };
  }
}

/** Atoms whose "[" starts a section: BODY, BODY.PEEK, BINARY, BINARY.PEEK, BINARY.SIZE. */
const SECTION_PREFIXES = ["BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"];

/**
 * Whether line[from, to) is one of SECTION_PREFIXES, in any case: compared as octets, no
 * string made (a FETCH line's "BODY.PEEK[" asks this once per command).
 */
function isSectionPrefix(line: Uint8Array, from: number, to: number): boolean {
  const n = to - from;
  for (const prefix of SECTION_PREFIXES) {
    if (prefix.length !== n) continue;
    let i = 0;
    // ASCII letters fold to upper case with & 0xdf; "." (0x2e) is compared as it is.
    while (
      i < n && (line[from + i] === 0x2e ? 0x2e : line[from + i] & 0xdf) === prefix.charCodeAt(i)
    ) {
      i++;
    }
    if (i === n) return true;
  }
  return false;
}

/**
 * line[from, to) as a string when it is short US-ASCII (an atom nearly always is), made
 * without a view of the line; null otherwise (decodeText then).
 */
function asciiAt(line: Uint8Array, from: number, to: number): string | null {
  if (to - from > 64) return null;
  let text = "";
  for (let i = from; i < to; i++) {
    const c = line[i];
    if (c > 0x7f) return null;
    text += String.fromCharCode(c);
  }
  return text;
}

function printable(c: number): string {
  return c > 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
}
