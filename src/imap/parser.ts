/**
 * The IMAP command parser (RFC 3501 §9 / RFC 9051 §9 "command"), pure and incremental
 * over bytes: feed it whatever arrived (`push`), then take events (`next`) until it
 * says "more". It frames lines, counts literals (`{n}` synchronizing, `{n+}` LITERAL+
 * RFC 7888, `~{n}` literal8 RFC 3516) and turns a complete command into tokens.
 * No I/O: the session answers continuation requests and errors.
 */
import { type Command, LITERAL_AT_END, tagOf, tokenizeCommand } from "./lexer.ts";

export type { Command, Token } from "./lexer.ts";

export type ParseEvent =
  /** Needs more input: a line, or `literalRemaining` bytes of a literal. */
  | { kind: "more" }
  /** A synchronizing literal was announced: send a continuation request (RFC 3501 §7.5). */
  | { kind: "continue"; size: number }
  | { kind: "command"; command: Command }
  /** Malformed or refused input; `tag` when one could be read. `code` for `[...]`. */
  | { kind: "error"; tag: string | null; text: string; code?: string };

export interface ParserLimits {
  /** Largest literal accepted (MaxMailSize). */
  maxLiteral: number;
  /** Longest command line, literals not counted. */
  maxLine: number;
  /** Most literals in one command. */
  maxLiterals?: number;
}

const CR = 13, LF = 10;

type State = "line" | "literal" | "skipLiteral" | "skipLine";

export class CommandParser {
  readonly limits: ParserLimits;
  #pending: Uint8Array[] = [];
  #pendingSize = 0;
  #state: State = "line";
  /** Lines and literals of the command being assembled. */
  #lines: Uint8Array[] = [];
  #literals: Uint8Array[] = [];
  #lineBytes = 0;
  #literal: Uint8Array | null = null;
  #literalFill = 0;
  #skip = 0;
  #error: ParseEvent | null = null;

  constructor(limits: ParserLimits) {
    this.limits = limits;
  }

  /** Bytes still to come of the literal being read (0 when a line is expected). */
  get literalRemaining(): number {
    if (this.#state === "literal") return this.#literal!.length - this.#literalFill;
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

  next(): ParseEvent {
    for (;;) {
      if (this.#error) {
        const e = this.#error;
        this.#error = null;
        return e;
      }
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
    this.#resetCommand();
  }

  #resetCommand(): void {
    this.#state = "line";
    this.#lines = [];
    this.#literals = [];
    this.#lineBytes = 0;
    this.#literal = null;
    this.#literalFill = 0;
    this.#skip = 0;
  }

  #feedLiteral(): void {
    while (this.#pendingSize > 0 && this.literalRemaining > 0) {
      const chunk = this.#pending[0];
      const n = Math.min(chunk.length, this.literalRemaining);
      if (this.#state === "literal") {
        this.#literal!.set(chunk.subarray(0, n), this.#literalFill);
        this.#literalFill += n;
      } else {
        this.#skip -= n;
      }
      this.#consume(n);
    }
    if (this.literalRemaining === 0) {
      if (this.#state === "literal") this.#literals.push(this.#literal!);
      this.#literal = null;
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
    this.#lines.push(line);
    this.#lineBytes += line.length;
    const tag = tagOf(this.#lines[0]);
    if (this.#lineBytes > this.limits.maxLine) {
      this.#resetCommand();
      return { kind: "error", tag, text: "Command line too long", code: "TOOBIG" };
    }
    const m = LITERAL_AT_END.exec(latin1Tail(line));
    if (!m) {
      const lines = this.#lines, literals = this.#literals;
      this.#resetCommand();
      return tokenizeCommand(lines, literals);
    }
    const size = Number(m[2]);
    const sync = m[3] !== "+";
    // All literals of one command together stay under the limit (memory bound).
    const total = this.#literals.reduce((n, l) => n + l.length, 0) + size;
    if (
      !Number.isSafeInteger(size) || total > this.limits.maxLiteral ||
      this.#literals.length >= (this.limits.maxLiterals ?? 1000)
    ) {
      this.#resetCommand();
      if (!sync) {
        this.#skip = Number.isSafeInteger(size) ? size : Number.MAX_SAFE_INTEGER;
        this.#state = "skipLiteral";
      }
      return { kind: "error", tag, text: `Literal too large (${m[2]} octets)`, code: "TOOBIG" };
    }
    this.#literal = new Uint8Array(size);
    this.#literalFill = 0;
    this.#state = "literal";
    if (size === 0) this.#feedLiteral();
    return sync ? { kind: "continue", size } : null;
  }
}

/** The last characters of a line, as text, for the literal marker check. */
function latin1Tail(line: Uint8Array): string {
  let s = "";
  for (let i = Math.max(0, line.length - 26); i < line.length; i++) {
    s += String.fromCharCode(line[i]);
  }
  return s;
}
