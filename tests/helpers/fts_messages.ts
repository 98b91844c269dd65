/**
 * Randomized messages and needles for the full-text index tests (fts_columns_test.ts,
 * fts_search_test.ts): plain, quoted-printable Latin-1, base64 UTF-8, HTML with entities,
 * multipart, an embedded message, bare LFs, a part with no text, NUL and lone surrogates;
 * RFC 2047 encoded subjects; words with accents (composed and decomposed), case pairs
 * that fold differently (ß, final sigma, dotted I) and emoji. Deterministic per seed.
 */
import { SEAM } from "../../src/store/fts/columns.ts";

const enc = new TextEncoder();

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "Lorem",
  "ipsum",
  "straße",
  "STRASSE",
  "Σίσυφος",
  "ΟΔΟΣ",
  "naïve",
  "nai\u0308ve",
  "ÅNGSTRÖM",
  "İstanbul",
  "😀emoji",
  "foo",
  "bar",
  "foobar",
  "café",
  "x",
  "ab",
  "a\u00a0b",
  "tab\there",
  'quote"d',
  "日本語",
];

function pick<T>(r: () => number, xs: T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function sentence(r: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pick(r, WORDS) + pick(r, [" ", "  ", "\r\n", " \t"]));
  return out.join("");
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...enc.encode(s))).replace(/.{76}/g, "$&\r\n");
}

function latin1Qp(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c > 255) out += "?";
    else if (c > 126 || c === 61) out += "=" + c.toString(16).toUpperCase().padStart(2, "0");
    else out += ch;
  }
  return out.replace(/(.{70})/g, "$1=\r\n");
}

function textPart(r: () => number): string {
  const text = sentence(r, 5 + Math.floor(r() * 30));
  switch (Math.floor(r() * 6)) {
    case 0:
      return `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${
        b64(text)
      }\r\n`;
    case 1:
      return "Content-Type: text/plain; charset=iso-8859-1\r\n" +
        `Content-Transfer-Encoding: quoted-printable\r\n\r\n${latin1Qp(text)}\r\n`;
    case 2:
      return `Content-Type: text/html; charset=utf-8\r\n\r\n<p>${
        text.replace(/ /g, "<b> </b>")
      }&amp;&lt;b&#xD800;x</p>\r\n`;
    case 3:
      return `Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n${
        b64("not text " + text)
      }\r\n`;
    case 4:
      return `Content-Type: text/plain; charset=utf-8\r\n\r\n${text}\0${sentence(r, 3)}\r\n`;
    default:
      return `Content-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`;
  }
}

export function message(r: () => number, i: number): Uint8Array {
  const subject = r() < 0.3
    ? `=?utf-8?B?${btoa(String.fromCharCode(...enc.encode(sentence(r, 3))))}?=`
    : sentence(r, 1 + Math.floor(r() * 4)).replace(/\r\n/g, " ");
  const head = `From: ${pick(r, WORDS)} <u${i}@example.org>\r\nSubject: ${subject}\r\n` +
    (r() < 0.2 ? `X-Long: ${sentence(r, 60).replace(/\r\n/g, " ")}\r\n` : "") +
    "MIME-Version: 1.0\r\n";
  let body: string;
  const kind = Math.floor(r() * 4);
  if (kind === 0) {
    body = textPart(r);
  } else if (kind === 1) {
    const parts = Array.from({ length: 1 + Math.floor(r() * 3) }, () => textPart(r));
    body = 'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n' +
      parts.map((p) => `--zz\r\n${p}`).join("") + "--zz--\r\n";
  } else if (kind === 2) {
    const inner = `Subject: ${sentence(r, 2).replace(/\r\n/g, " ")}\r\n${textPart(r)}`;
    body = 'Content-Type: multipart/mixed; boundary="yy"\r\n\r\n--yy\r\n' + textPart(r) +
      `--yy\r\nContent-Type: message/rfc822\r\n\r\n${inner}--yy--\r\n`;
  } else {
    body = "Content-Type: application/octet-stream\r\n\r\nno text here\r\n";
  }
  const raw = enc.encode(head + body);
  // Some files with bare LFs, as other software may leave them.
  return r() < 0.15 ? enc.encode((head + body).replace(/\r\n/g, "\n")) : raw;
}

/** Random needles: substrings of the folded texts (of all lengths), re-cased, absent words. */
export function needles(r: () => number, texts: string[], count: number): string[] {
  const out: string[] = ["ipsum", "straße", "σίσυφος", "e i", "😀em", "日本", "r\ufffdx"];
  while (out.length < count) {
    const t = pick(r, texts);
    const mode = r();
    if (mode < 0.1 || t.length === 0) {
      out.push(pick(r, WORDS) + pick(r, ["", " ", "zz"]));
      continue;
    }
    const len = mode < 0.6 ? 1 + Math.floor(r() * 12) : 1 + Math.floor(r() * (SEAM + 40));
    const at = Math.floor(r() * t.length);
    const s = t.slice(at, at + len);
    out.push(r() < 0.3 ? s.toUpperCase() : s);
  }
  return out;
}
