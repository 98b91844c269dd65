/**
 * The IMAP command parser (RFC 3501 §9 / RFC 9051 §9 "command"), pure and incremental
 * over bytes: feed it whatever arrived (`push`), then take events (`next`) until it
 * says "more". It frames lines, counts literals (`{n}` synchronizing, `{n+}` LITERAL+
 * RFC 7888, `~{n}` literal8 RFC 3516) and turns a complete command into tokens.
 * No I/O: the session answers continuation requests and errors, and stores the
 * message literals of APPEND that are too large for memory ("spool" events).
 *
 * Memory is taken as literal data arrives, never when a size is announced: a literal
 * is kept as the pieces that were pushed, joined once it is complete.
 */
import {
  type Command,
  commandNameOf,
  LITERAL_AT_END,
  type LiteralValue,
  tagOf,
  tokenizeCommand,
} from "./lexer.ts";

export type { Command, SpooledLiteral, Token } from "./lexer.ts";

export type ParseEvent =
  /** Needs more input: a line, or `literalRemaining` bytes of a literal. */
  | { kind: "more" }
  /** A synchronizing literal was announced: send a continuation request (RFC 3501 §7.5). */
  | { kind: "continue"; size: number }
  | { kind: "command"; command: Command }
  /**
   * The next `size` octets are a message literal of APPEND too large to keep in memory
   * (over `spoolAbove`): the session reads them into a file itself, then calls
   * spooled(). For a synchronizing literal the "continue" event comes first.
   */
  | { kind: "spool"; size: number }
  /**
   * Malformed or refused input; `tag` when one could be read. `code` for `[...]`.
   * `literal`: a literal over the limit was refused; "sync" before any "+" was sent,
   * "nonsync" (LITERAL+) when its octets follow anyway and are being skipped.
   */
  | {
    kind: "error";
    tag: string | null;
    text: string;
    code?: string;
    literal?: "sync" | "nonsync";
  };

export interface ParserLimits {
  /**
   * Largest literal accepted, all literals of one command together (8 KiB before
   * authentication, MaxMailSize after: the session sets it as its state changes).
   */
  maxLiteral: number;
  /** APPEND message literals larger than this are handed to the session ("spool"). */
  spoolAbove?: number;
  /** Longest command line, literals not counted. */
  maxLine: number;
  /** Most literals in one command. */
  maxLiterals?: number;
}

const CR = 13, LF = 10, CLOSE_BRACE = 0x7d;
const CRLF = new Uint8Array([CR, LF]);
/** The literals of a command that has none (tokenizeCommand only reads them). */
const NO_LITERALS: readonly LiteralValue[] = Object.freeze([]);

type State = "line" | "literal" | "skipLiteral" | "skipLine" | "spool";

export class CommandParser {
  readonly limits: ParserLimits;
  #pending: Uint8Array[] = [];
  #pendingSize = 0;
  /** A whole line handed over by pushLine(), parsed before anything pending. */
  #readyLine: Uint8Array | null = null;
  #state: State = "line";
  /** Lines and literals of the command being assembled. */
  #lines: Uint8Array[] = [];
  #literals: LiteralValue[] = [];
  /** Octets of the command's literals so far (the limit applies to them together). */
  #literalBytes = 0;
  #lineBytes = 0;
  /** The pieces of the literal being read, and how many octets it still needs. */
  #literalPieces: Uint8Array[] = [];
  #literalNeed = 0;
  #skip = 0;
  #error: ParseEvent | null = null;

  constructor(limits: ParserLimits) {
    this.limits = { ...limits };
  }

  /** Sets the literal limit (the session's state changed: authenticated or not). */
  set maxLiteral(n: number) {
    this.limits.maxLiteral = n;
  }

  /** Bytes still to come of the literal being read (0 when a line is expected). */
  get literalRemaining(): number {
    if (this.#state === "literal" || this.#state === "spool") return this.#literalNeed;
    if (this.#state === "skipLiteral") return this.#skip;
    return 0;
  }

  /** True while a command is partly assembled (between its first line and its end). */
  get inCommand(): boolean {
    return this.#lines.length > 0 || this.#state !== "line";
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#pending.push(chunk);
    this.#pendingSize += chunk.length;
  }

  /**
   * A whole line without its terminator, as the session's line reader found it: taken
   * as it is when nothing else is pending (no search for its end, no copy), else queued
   * with a CRLF after whatever is. `borrowed`: the line is a view of the reader's buffer,
   * valid only until the session next waits; it is copied unless next() parses it whole
   * at once (a line announcing a literal is kept until the literal came).
   */
  pushLine(line: Uint8Array, borrowed = false): void {
    if (this.#pendingSize === 0 && this.#readyLine === null && this.literalRemaining === 0) {
      const kept = borrowed &&
        (this.#error !== null || (line.length > 0 && line[line.length - 1] === CLOSE_BRACE));
      this.#readyLine = kept ? line.slice() : line;
      return;
    }
    this.push(borrowed ? line.slice() : line);
    this.push(CRLF);
  }

  next(): ParseEvent {
    for (;;) {
      if (this.#error) {
        const e = this.#error;
        this.#error = null;
        return e;
      }
      if (this.#state === "spool") return { kind: "spool", size: this.#literalNeed };
      if (this.#state === "literal" || this.#state === "skipLiteral") {
        if (this.#pendingSize === 0) return { kind: "more" };
        this.#feedLiteral();
        continue;
      }
      const line = this.#takeLine();
      if (line === null) return { kind: "more" };
      const ev = this.#onLine(line);
      if (ev) return ev;
    }
  }

  /** Drops everything (after an error the session cannot recover from). */
  reset(): void {
    this.#pending = [];
    this.#pendingSize = 0;
    this.#readyLine = null;
    this.#resetCommand();
  }

  #resetCommand(): void {
    this.#state = "line";
    this.#lines = [];
    this.#literals = [];
    this.#literalBytes = 0;
    this.#lineBytes = 0;
    this.#literalPieces = [];
    this.#literalNeed = 0;
    this.#skip = 0;
  }

  /**
   * The session stored the announced APPEND literal in a file: it stands for the
   * literal in the command (a "file" token); parsing goes on with the next line.
   */
  spooled(literal: { path: string; size: number }): void {
    if (this.#state !== "spool") throw new Error("no literal is waiting to be spooled");
    this.#literals.push(literal);
    this.#literalNeed = 0;
    this.#state = "line";
  }

  /**
   * The session could not store the spooled literal (it read and dropped its octets):
   * the command is refused and the rest of it skipped. Returns the error to answer.
   */
  spoolFailed(): Extract<ParseEvent, { kind: "error" }> {
    const tag = tagOf(this.#lines[0]);
    this.#resetCommand();
    this.#state = "skipLine";
    // RFC 5530 UNAVAILABLE: a temporary failure (the disk is full), try again later.
    return { kind: "error", tag, text: "Cannot store the message now", code: "UNAVAILABLE" };
  }

  #feedLiteral(): void {
    while (this.#pendingSize > 0 && this.literalRemaining > 0) {
      const chunk = this.#pending[0];
      const n = Math.min(chunk.length, this.literalRemaining);
      if (this.#state === "literal") {
        // Kept as pushed (pushes are copies the session made): joined when complete.
        this.#literalPieces.push(chunk.subarray(0, n));
        this.#literalNeed -= n;
      } else {
        this.#skip -= n;
      }
      this.#consume(n);
    }
    if (this.literalRemaining === 0) {
      if (this.#state === "literal") this.#literals.push(join(this.#literalPieces));
      this.#literalPieces = [];
      this.#state = this.#state === "literal" ? "line" : "skipLine";
    }
  }

  #consume(n: number): void {
    const chunk = this.#pending[0];
    if (n === chunk.length) this.#pending.shift();
    else this.#pending[0] = chunk.subarray(n);
    this.#pendingSize -= n;
  }

  /** One line without its CRLF (bare LF accepted), or null; enforces maxLine. */
  #takeLine(): Uint8Array | null {
    const ready = this.#readyLine;
    if (ready !== null) {
      this.#readyLine = null;
      return ready;
    }
    let seen = 0;
    for (let i = 0; i < this.#pending.length; i++) {
      const lf = this.#pending[i].indexOf(LF);
      if (lf < 0) {
        seen += this.#pending[i].length;
        continue;
      }
      const total = seen + lf + 1;
      const line = new Uint8Array(total);
      let off = 0;
      while (off < total) {
        const c = this.#pending[0];
        const n = Math.min(c.length, total - off);
        line.set(c.subarray(0, n), off);
        off += n;
        this.#consume(n);
      }
      const end = total >= 2 && line[total - 2] === CR ? total - 2 : total - 1;
      return line.subarray(0, end);
    }
    if (this.#pendingSize > this.limits.maxLine + 2 && this.#state === "line") {
      // Overlong: drop what we have and the rest of the line as it arrives.
      const tag = tagOf(this.#lines[0] ?? this.#pending[0]);
      this.#pending = [];
      this.#pendingSize = 0;
      this.#resetCommand();
      this.#state = "skipLine";
      this.#error = { kind: "error", tag, text: "Command line too long", code: "TOOBIG" };
    } else if (this.#state === "skipLine" && this.#pendingSize > 0) {
      this.#pending = [];
      this.#pendingSize = 0;
    }
    return null;
  }

  #onLine(line: Uint8Array): ParseEvent | null {
    if (this.#state === "skipLine") {
      // Discarding a refused command: skip literals it still announces (non-sync only;
      // a client waiting for "+" after a refusal sends nothing more).
      const m = LITERAL_AT_END.exec(latin1Tail(line));
      if (m && m[3] === "+") {
        this.#skip = Number(m[2]);
        this.#state = "skipLiteral";
      } else {
        this.#resetCommand();
      }
      return null;
    }
    // A whole command on one line (no literal): tokenized at once, nothing assembled.
    if (
      this.#lines.length === 0 && line.length <= this.limits.maxLine &&
      (line.length === 0 || line[line.length - 1] !== CLOSE_BRACE)
    ) return tokenizeCommand([line], NO_LITERALS);
    this.#lines.push(line);
    this.#lineBytes += line.length;
    if (this.#lineBytes > this.limits.maxLine) {
      const tag = tagOf(this.#lines[0]);
      this.#resetCommand();
      return { kind: "error", tag, text: "Command line too long", code: "TOOBIG" };
    }
    // Only a line ending in "}" can announce a literal: most lines skip the expression.
    const m = line.length > 0 && line[line.length - 1] === CLOSE_BRACE
      ? LITERAL_AT_END.exec(latin1Tail(line))
      : null;
    if (!m) {
      const lines = this.#lines, literals = this.#literals;
      this.#resetCommand();
      return tokenizeCommand(lines, literals);
    }
    const tag = tagOf(this.#lines[0]);
    const size = Number(m[2]);
    const sync = m[3] !== "+";
    // All literals of one command together stay under the limit (memory bound).
    const total = this.#literalBytes + size;
    if (
      !Number.isSafeInteger(size) || total > this.limits.maxLiteral ||
      this.#literals.length >= (this.limits.maxLiterals ?? 1000)
    ) {
      this.#resetCommand();
      if (!sync) {
        // RFC 7888 §4: the octets come anyway; they are skipped, never run as commands.
        this.#skip = Number.isSafeInteger(size) ? size : Number.MAX_SAFE_INTEGER;
        this.#state = "skipLiteral";
      }
      return {
        kind: "error",
        tag,
        text: `Literal too large (${m[2]} octets, at most ${this.limits.maxLiteral})`,
        code: "TOOBIG",
        literal: sync ? "sync" : "nonsync",
      };
    }
    this.#literalBytes = total;
    this.#literalNeed = size;
    const spool = this.limits.spoolAbove;
    if (spool !== undefined && size > spool && commandNameOf(this.#lines[0]) === "APPEND") {
      this.#state = "spool";
      return sync ? { kind: "continue", size } : { kind: "spool", size };
    }
    this.#state = "literal";
    if (size === 0) this.#feedLiteral();
    return sync ? { kind: "continue", size } : null;
  }
}

/** The pieces of a literal in one array (the piece itself when there is one). */
function join(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The last characters of a line, as text, for the literal marker check. */
function latin1Tail(line: Uint8Array): string {
  let s = "";
  for (let i = Math.max(0, line.length - 26); i < line.length; i++) {
    s += String.fromCharCode(line[i]);
  }
  return s;
}
