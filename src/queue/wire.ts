/**
 * Pure pieces of the outbound SMTP client: reply parsing (RFC 5321 §4.2), EHLO
 * keywords (§4.1.1.1), enhanced status codes (RFC 3463) and dot-stuffing (§4.5.2, done
 * by src/message/dot_stuffing.ts).
 */
import { dotStuff as stuff } from "../message/dot_stuffing.ts";

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

/**
 * Accumulates reply lines: feed each line until it returns the complete Reply.
 * RFC 5321 §4.2.1: "250-text" continues, "250 text" (or bare "250") ends a reply;
 * every line of one reply carries the same code.
 */
export class ReplyParser {
  #code = 0;
  #lines: string[] = [];

  push(line: string): Reply | null {
    const m = /^([2-5][0-9][0-9])([ -]|$)(.*)$/s.exec(line);
    if (!m) {
      throw new SmtpProtocolError(`malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const code = Number(m[1]);
    if (this.#lines.length > 0 && code !== this.#code) {
      throw new SmtpProtocolError(`reply code changed from ${this.#code} to ${code} mid-reply`);
    }
    if (this.#lines.length >= 500) throw new SmtpProtocolError("reply has too many lines");
    this.#code = code;
    this.#lines.push(m[3]);
    if (m[2] === "-") return null;
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

/**
 * RFC 5321 §4.5.2: a line that begins with "." gets one more; the data ends with
 * CRLF "." CRLF. Bare CR or LF are sent as CRLF so the end marker cannot be forged
 * and the receiver sees well-formed lines (§2.3.8).
 */
export function dotStuff(data: Uint8Array): Uint8Array {
  return stuff(data, { bareCr: "line-end" });
}

/** `<address>` for MAIL/RCPT; the null sender is `<>`. */
export function pathOf(address: string): string {
  return `<${address}>`;
}

/** True when the text needs SMTPUTF8 (RFC 6531 §3.2): any non-ASCII character. */
export function needsUtf8(text: string): boolean {
  // deno-lint-ignore no-control-regex -- the complement of the ASCII range is the point
  return /[^\x00-\x7f]/.test(text);
}
