/**
 * Pure pieces of the outbound SMTP client: reply parsing over the bytes of each line
 * (RFC 5321 §4.2), EHLO keywords (§4.1.1.1), enhanced status codes (RFC 3463) and the
 * envelope syntax the client writes.
 */
import { isAscii } from "../message/controls.ts";

export class SmtpProtocolError extends Error {}

/** A complete (possibly multi-line) server reply. */
export class Reply {
  constructor(readonly code: number, readonly lines: string[]) {}

  get positive(): boolean {
    return this.code >= 200 && this.code < 400;
  }
  get transient(): boolean {
    return this.code >= 400 && this.code < 500;
  }
  get permanent(): boolean {
    return this.code >= 500;
  }

  /** The RFC 3463 code at the start of the text, when it agrees with the reply class. */
  get enhanced(): string | null {
    const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)/.exec(this.lines[0] ?? "");
    if (!m || Number(m[1]) !== Math.floor(this.code / 100)) return null;
    return `${m[1]}.${m[2]}.${m[3]}`;
  }

  /** The enhanced code, or the class default (X.0.0) when the server sent none. */
  get status(): string {
    return this.enhanced ?? `${Math.floor(this.code / 100)}.0.0`;
  }

  /** One line for logs and DSN Diagnostic-Code: "550 5.1.1 text text". */
  toString(): string {
    const text = this.lines.map((l) => l.trim()).filter((l) => l !== "").join(" ");
    return (text ? `${this.code} ${text}` : String(this.code)).slice(0, 900);
  }
}

/** One reply line: its code, whether the reply goes on ("250-"), and the text after. */
export interface ReplyLine {
  code: number;
  more: boolean;
  text: string;
}

const DIGIT_0 = 48, SPACE = 32, HYPHEN = 45;
/** Reply text may be UTF-8 (RFC 6531 §3.7.4); anything else is shown, not refused. */
const utf8 = new TextDecoder("utf-8");

/**
 * RFC 5321 §4.2: Reply-line = Reply-code [ SP / "-" textstring ], Reply-code starting
 * 2 to 5. A bare code ends a reply (§4.2.1 allows servers to omit the text).
 */
export function parseReplyLine(line: Uint8Array): ReplyLine {
  const d = [line[0] - DIGIT_0, line[1] - DIGIT_0, line[2] - DIGIT_0];
  const sep = line[3];
  if (
    line.length < 3 || !(d[0] >= 2 && d[0] <= 5) || !(d[1] >= 0 && d[1] <= 9) ||
    !(d[2] >= 0 && d[2] <= 9) || (line.length > 3 && sep !== SPACE && sep !== HYPHEN)
  ) {
    const shown = JSON.stringify(utf8.decode(line.subarray(0, 80)));
    throw new SmtpProtocolError(`malformed reply line: ${shown}`);
  }
  return {
    code: d[0] * 100 + d[1] * 10 + d[2],
    more: sep === HYPHEN,
    text: line.length > 4 ? utf8.decode(line.subarray(4)) : "",
  };
}

/**
 * Accumulates reply lines: feed each line until it returns the complete Reply.
 * RFC 5321 §4.2.1: "250-text" continues, "250 text" (or bare "250") ends a reply;
 * every line of one reply carries the same code.
 */
export class ReplyParser {
  #code = 0;
  #lines: string[] = [];

  push(line: Uint8Array): Reply | null {
    const { code, more, text } = parseReplyLine(line);
    if (this.#lines.length > 0 && code !== this.#code) {
      throw new SmtpProtocolError(`reply code changed from ${this.#code} to ${code} mid-reply`);
    }
    if (this.#lines.length >= 500) throw new SmtpProtocolError("reply has too many lines");
    this.#code = code;
    this.#lines.push(text);
    if (more) return null;
    const reply = new Reply(code, this.#lines);
    this.#code = 0;
    this.#lines = [];
    return reply;
  }
}

/** EHLO keywords (upper-case) with their parameters, from a 250 reply's later lines. */
export function parseEhlo(reply: Reply): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (m) out.set(m[1].toUpperCase(), (m[2] ?? "").trim());
  }
  return out;
}

/** The SIZE limit a server advertised (RFC 1870 §4); 0 means none given. */
export function advertisedSize(ext: Map<string, string>): number {
  const v = ext.get("SIZE");
  return v && /^\d+$/.test(v) ? Number(v) : 0;
}

/** The SASL mechanisms a server offered (RFC 4954 §3), upper-case. */
export function authMechanisms(ext: Map<string, string>): string[] {
  return (ext.get("AUTH") ?? "").toUpperCase().split(/\s+/).filter((m) => m !== "");
}

/** `<address>` for MAIL/RCPT; the null sender is `<>`. */
export function pathOf(address: string): string {
  return `<${address}>`;
}

/** True when the text needs SMTPUTF8 (RFC 6531 §3.2): any non-ASCII character. */
export function needsUtf8(text: string): boolean {
  return !isAscii(text);
}
