/**
 * RFC 5322 §3.4 address lists, in the shape IMAP ENVELOPE wants (RFC 9051 §7.5.2): one
 * entry per mailbox, with group start/end markers. A scanner then a recursive-descent
 * parser, both single passes over the value. Lenient toward obsolete syntax (routes,
 * empty list elements, comments anywhere) and raw 8-bit text; encoded words stay as
 * they are. Missing parts are named as Dovecot names them, so that a mailbox without a
 * domain is not mistaken for a group marker.
 */

/** One address: (name adl mailbox host); a group start has only `mailbox`, its end none. */
export interface ParsedAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

export const MISSING_MAILBOX = "MISSING_MAILBOX";
export const MISSING_DOMAIN = "MISSING_DOMAIN";

type Tok =
  | { k: "word"; v: string; quoted: boolean; space: boolean }
  | { k: "comment"; v: string; space: boolean }
  | { k: "special"; v: string; space: boolean };

// RFC 5322 specials; everything else that is not white space is atom text
// (which lets raw 8-bit and encoded words through as atoms).
const SPECIALS = new Set('()<>[]:;@\\,."');
// Characters that end an atom: the specials and white space.
const ATOM_END = new Uint8Array(128);
for (const c of '()<>[]:;@\\,." \t\r\n') ATOM_END[c.charCodeAt(0)] = 1;

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let space = false;
  while (i < s.length) {
    const c = s[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      space = true;
      i++;
    } else if (c === '"') {
      let v = "";
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        v += s[i++];
      }
      i++;
      toks.push({ k: "word", v, quoted: true, space });
      space = false;
    } else if (c === "(") {
      let depth = 0;
      let v = "";
      while (i < s.length) {
        const d = s[i++];
        if (d === "\\" && i < s.length) {
          v += s[i++];
          continue;
        }
        if (d === "(") {
          if (depth++ === 0) continue;
        } else if (d === ")" && --depth === 0) break;
        v += d;
      }
      toks.push({ k: "comment", v: v.trim(), space });
      space = true;
    } else if (c === "[") {
      // Domain literal, kept whole with its brackets.
      const end = s.indexOf("]", i);
      const stop = end < 0 ? s.length : end + 1;
      toks.push({ k: "word", v: s.slice(i, stop), quoted: false, space });
      space = false;
      i = stop;
    } else if (SPECIALS.has(c)) {
      toks.push({ k: "special", v: c, space });
      space = false;
      i++;
    } else {
      const start = i;
      while (i < s.length) {
        const code = s.charCodeAt(i);
        if (code < 128 && ATOM_END[code] === 1) break;
        i++;
      }
      toks.push({ k: "word", v: s.slice(start, i), quoted: false, space });
      space = false;
    }
  }
  return toks;
}

class Parser {
  i = 0;
  out: ParsedAddress[] = [];
  constructor(readonly toks: Tok[]) {}

  peek(): Tok | undefined {
    return this.toks[this.i];
  }

  isSpecial(v: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.k === "special" && t.v === v;
  }

  /** address-list: addresses and groups separated by commas. */
  list(): ParsedAddress[] {
    while (this.i < this.toks.length) {
      if (this.isSpecial(",") || this.isSpecial(";") || this.isSpecial(">")) {
        this.i++;
        continue;
      }
      this.address(false);
    }
    return this.out;
  }

  /** One mailbox or (when not inside one) a group. */
  address(inGroup: boolean): void {
    const start = this.i;
    const phrase: Tok[] = [];
    const comments: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t === undefined) break;
      if (t.k === "comment") {
        if (t.v !== "") comments.push(t.v);
        this.i++;
        continue;
      }
      if (t.k === "special" && t.v !== ".") {
        if (t.v === ":" && !inGroup) return this.group(phrase);
        if (t.v === "<") {
          this.i++;
          this.angle(phrase);
          return;
        }
        if (t.v === "@") {
          this.i = start;
          this.addrSpec();
          return;
        }
        if (t.v === ":") { // a group inside a group: ignore the colon
          this.i++;
          continue;
        }
        break; // "," ";" ">" or stray specials end the element
      }
      phrase.push(t);
      this.i++;
    }
    if (this.i === start) {
      this.i++; // a stray special: skip it
      return;
    }
    const words = phrase.filter((t) => t.k === "word");
    if (words.length === 0) return; // empty element (RFC 5322 §4.4 obs-addr-list)
    // A bare local part without "@domain" (e.g. "From: root").
    this.out.push({
      name: comments.length > 0 ? comments[comments.length - 1] : null,
      adl: null,
      mailbox: joinLocal(phrase),
      host: MISSING_DOMAIN,
    });
  }

  group(phrase: Tok[]): void {
    this.i++; // ":"
    this.out.push({ name: null, adl: null, mailbox: joinPhrase(phrase) ?? "", host: null });
    while (this.i < this.toks.length && !this.isSpecial(";")) {
      if (this.isSpecial(",")) {
        this.i++;
        continue;
      }
      this.address(true);
    }
    if (this.isSpecial(";")) this.i++;
    this.out.push({ name: null, adl: null, mailbox: null, host: null });
  }

  /** After "<": [route ":"] addr-spec ">". */
  angle(phrase: Tok[]): void {
    let adl: string | null = null;
    if (this.isSpecial("@")) {
      // obs-route: "@a,@b:" up to the colon.
      let route = "";
      while (this.i < this.toks.length && !this.isSpecial(":") && !this.isSpecial(">")) {
        const t = this.toks[this.i++];
        if (t.k !== "comment") route += t.v;
      }
      if (this.isSpecial(":")) {
        this.i++;
        adl = route;
      }
    }
    const local: Tok[] = [];
    const comments: string[] = [];
    while (this.i < this.toks.length && !this.isSpecial("@") && !this.isSpecial(">")) {
      const t = this.toks[this.i++];
      if (t.k === "comment") comments.push(t.v);
      else local.push(t);
    }
    let host: string | null = null;
    if (this.isSpecial("@")) {
      this.i++;
      host = this.domain(true);
    }
    if (this.isSpecial(">")) this.i++;
    // Comments after ">" are ignored when there is a display name.
    while (this.peek()?.k === "comment") comments.push((this.toks[this.i++] as Tok).v);
    const mailbox = joinLocal(local);
    this.out.push({
      name: joinPhrase(phrase) ?? lastComment(comments),
      adl,
      mailbox: mailbox === "" ? MISSING_MAILBOX : mailbox,
      host: host === null || host === "" ? MISSING_DOMAIN : host,
    });
  }

  /** local-part "@" domain, with comments (the last one names the address). */
  addrSpec(): void {
    const local: Tok[] = [];
    const comments: string[] = [];
    while (this.i < this.toks.length && !this.isSpecial("@")) {
      const t = this.toks[this.i++];
      if (t.k === "comment") comments.push(t.v);
      else local.push(t);
    }
    this.i++; // "@"
    const host = this.domain(false, comments);
    const mailbox = joinLocal(local);
    this.out.push({
      name: lastComment(comments),
      adl: null,
      mailbox: mailbox === "" ? MISSING_MAILBOX : mailbox,
      host: host === "" ? MISSING_DOMAIN : host,
    });
  }

  /** Domain text up to "," ";" ">" (or "<"), comments collected. */
  domain(inAngle: boolean, comments: string[] = []): string {
    let d = "";
    while (this.i < this.toks.length) {
      const t = this.toks[this.i];
      if (t.k === "special" && (t.v === "," || t.v === ";" || t.v === ">" || t.v === "<")) break;
      if (t.k === "special" && t.v === ":" && !inAngle) break;
      this.i++;
      if (t.k === "comment") comments.push(t.v);
      else d += t.v;
    }
    return d;
  }
}

function lastComment(comments: string[]): string | null {
  for (let i = comments.length - 1; i >= 0; i--) if (comments[i] !== "") return comments[i];
  return null;
}

/** Display name: words separated by one space; "." sticks to the word before it. */
function joinPhrase(toks: Tok[]): string | null {
  let out = "";
  let prevWord = false;
  for (const t of toks) {
    if (t.k === "comment") continue;
    if (t.k === "special") {
      out += t.v;
      prevWord = false;
      continue;
    }
    if (out !== "" && (prevWord || t.space)) out += " ";
    out += t.v;
    prevWord = true;
  }
  return out === "" ? null : out;
}

/** Local part: dot-atoms and quoted strings run together (quotes removed). */
function joinLocal(toks: Tok[]): string {
  let out = "";
  for (const t of toks) if (t.k !== "comment") out += t.v;
  return out;
}

/** Parses an address-list header value; an empty list gives []. */
export function parseAddressList(value: string): ParsedAddress[] {
  return new Parser(tokenize(value)).list();
}
