/**
 * Structured MIME header values: Content-Type and Content-Disposition with their
 * parameters (RFC 2045 §5.1, RFC 2183, RFC 2231) and Content-Language (RFC 3282).
 * Lenient: comments are skipped, unquoted values run to the next ";".
 */

/** Ordered parameter list; names lower-cased, values as written (quotes removed). */
export type Params = [string, string][];

/** A parsed `type/subtype; params` or `disposition; params` value. */
export interface ParsedValue {
  /** Lower-cased leading token ("text/plain" is split by the caller). */
  value: string;
  params: Params;
}

// RFC 2045 tspecials plus space and controls end a token (1 in this table).
const TSPECIALS = new Uint8Array(128);
for (const c of '()<>@,;:\\"/[]?= \t\r\n') TSPECIALS[c.charCodeAt(0)] = 1;

class Lexer {
  pos = 0;
  constructor(readonly s: string) {}

  /** Skips white space and (nested) comments. */
  skipCfws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c === " " || c === "\t" || c === "\r" || c === "\n") this.pos++;
      else if (c === "(") {
        let depth = 0;
        while (this.pos < s.length) {
          const d = s[this.pos++];
          if (d === "\\") this.pos++;
          else if (d === "(") depth++;
          else if (d === ")" && --depth === 0) break;
        }
      } else break;
    }
  }

  token(): string {
    const start = this.pos;
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c < 128 && TSPECIALS[c] === 1) break;
      this.pos++;
    }
    return this.s.slice(start, this.pos);
  }

  /** A quoted-string at the current position (which is `"`), unescaped. */
  quotedString(): string {
    let out = "";
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos++];
      if (c === '"') break;
      if (c === "\\" && this.pos < this.s.length) out += this.s[this.pos++];
      else out += c;
    }
    return out;
  }

  peek(): string {
    return this.s[this.pos] ?? "";
  }

  /** Skips to just past the next ";" outside quotes (or to the end). */
  skipToSemicolon(): void {
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === '"') this.quotedString();
      else {
        this.pos++;
        if (c === ";") return;
      }
    }
  }
}

/** Parses `name=value` pairs after the leading value (lexer just past it). */
function parseParams(lx: Lexer): Params {
  const raw: Params = [];
  for (;;) {
    lx.skipCfws();
    if (lx.pos >= lx.s.length) break;
    if (lx.peek() !== ";") {
      lx.skipToSemicolon();
      continue;
    }
    lx.pos++;
    lx.skipCfws();
    const name = lx.token().toLowerCase();
    lx.skipCfws();
    if (name === "" || lx.peek() !== "=") {
      if (lx.peek() !== ";") lx.skipToSemicolon();
      continue;
    }
    lx.pos++;
    lx.skipCfws();
    let value: string;
    if (lx.peek() === '"') value = lx.quotedString();
    else {
      // Unquoted: RFC 2045 wants a token, but "=" and "/" in unquoted boundaries and
      // names are common, so take everything up to ";" (trimmed).
      const start = lx.pos;
      let end = lx.s.indexOf(";", start);
      if (end < 0) end = lx.s.length;
      value = lx.s.slice(start, end).trim();
      lx.pos = end;
    }
    raw.push([name, value]);
  }
  return mergeRfc2231(raw);
}

// RFC 2231 §7 attribute-char: token chars minus "*", "'" and "%".
const ATTRIBUTE_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

function percentEncode(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && ATTRIBUTE_CHAR.test(c)
      ? c
      : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

const SECTION = /^(.+?)\*(\d+)(\*?)$/;

/**
 * Joins RFC 2231 continuations (`name*0*=`, `name*1=` ...) into one parameter at the
 * place of the first segment, as RFC 9051 §7.5.2 asks of servers. When any segment is
 * extended, the result is the extended `name*` = `charset'lang'%XX...` form (plain
 * segments percent-encoded) for the client to decode; otherwise a plain `name`.
 */
function mergeRfc2231(raw: Params): Params {
  if (!raw.some(([n]) => n.includes("*") && SECTION.test(n))) return raw;
  const out: Params = [];
  const groups = new Map<string, { at: number; segs: [number, boolean, string][] }>();
  for (const [name, value] of raw) {
    const m = SECTION.exec(name);
    if (!m) {
      out.push([name, value]);
      continue;
    }
    let g = groups.get(m[1]);
    if (!g) {
      g = { at: out.length, segs: [] };
      groups.set(m[1], g);
      out.push(["", ""]); // placeholder keeps the position
    }
    g.segs.push([Number(m[2]), m[3] === "*", value]);
  }
  for (const [base, g] of groups) {
    g.segs.sort((a, b) => a[0] - b[0]);
    const extended = g.segs.some((s) => s[1]);
    let value = "";
    if (extended) {
      g.segs.forEach(([, ext, v], i) => {
        if (i === 0 && !ext) value += "''";
        value += ext ? v : percentEncode(v);
      });
    } else value = g.segs.map((s) => s[2]).join("");
    out[g.at] = [extended ? base + "*" : base, value];
  }
  return out;
}

/**
 * Parses a Content-Type value into lower-cased type and subtype and parameters, or null
 * when it is not `token/token` (RFC 2045 §5.2: the caller then uses the default).
 */
export function parseContentType(
  value: string,
): { type: string; subtype: string; params: Params } | null {
  const lx = new Lexer(value);
  lx.skipCfws();
  const type = lx.token().toLowerCase();
  lx.skipCfws();
  if (type === "" || lx.peek() !== "/") return null;
  lx.pos++;
  lx.skipCfws();
  const subtype = lx.token().toLowerCase();
  if (subtype === "") return null;
  return { type, subtype, params: parseParams(lx) };
}

/** Parses a Content-Disposition value (RFC 2183); null when there is no type token. */
export function parseDisposition(value: string): ParsedValue | null {
  const lx = new Lexer(value);
  lx.skipCfws();
  const type = lx.token().toLowerCase();
  if (type === "") return null;
  return { value: type, params: parseParams(lx) };
}

/** Content-Language tags (RFC 3282): comma-separated, comments skipped. */
export function parseLanguage(value: string): string[] {
  const lx = new Lexer(value);
  const tags: string[] = [];
  while (lx.pos < lx.s.length) {
    lx.skipCfws();
    const tag = lx.token();
    if (tag !== "") tags.push(tag);
    lx.skipCfws();
    if (lx.pos < lx.s.length) lx.pos++; // "," or junk
  }
  return tags;
}

/** The first token of a value, comments and white space skipped ("7bit" for CTE). */
export function firstToken(value: string): string {
  const lx = new Lexer(value);
  lx.skipCfws();
  return lx.token();
}

/** Value of parameter `name` (lower case), or undefined. */
export function param(params: Params, name: string): string | undefined {
  for (const [n, v] of params) if (n === name) return v;
  return undefined;
}
