/**
 * Modified UTF-7 (RFC 3501 5.1.3) for mailbox names: IMAP4rev1 clients send and
 * expect it, and Maildir++ folder directories are stored in it, as Dovecot does.
 */

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

export function encodeMutf7(text: string): string {
  let out = "";
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes: number[] = [];
    for (const unit of pending) bytes.push(unit >> 8, unit & 0xff);
    let bits = 0, acc = 0, enc = "";
    for (const b of bytes) {
      acc = (acc << 8) | b;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        enc += B64[(acc >> bits) & 0x3f];
      }
    }
    if (bits > 0) enc += B64[(acc << (6 - bits)) & 0x3f];
    out += `&${enc}-`;
    pending = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? "&-" : text[i];
    } else {
      pending.push(c);
    }
  }
  flush();
  return out;
}

/** Decodes modified UTF-7; throws on malformed input (callers answer BAD/NO). */
export function decodeMutf7(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== "&") {
      out += ch;
      continue;
    }
    const end = text.indexOf("-", i + 1);
    if (end < 0) throw new Error(`unterminated modified UTF-7 shift in "${text}"`);
    const enc = text.slice(i + 1, end);
    i = end;
    if (enc === "") {
      out += "&";
      continue;
    }
    let bits = 0, acc = 0;
    const bytes: number[] = [];
    for (const e of enc) {
      const v = B64.indexOf(e);
      if (v < 0) throw new Error(`invalid modified UTF-7 character "${e}" in "${text}"`);
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((acc >> bits) & 0xff);
      }
    }
    if (bytes.length % 2 !== 0) throw new Error(`malformed modified UTF-7 in "${text}"`);
    for (let k = 0; k < bytes.length; k += 2) {
      out += String.fromCharCode((bytes[k] << 8) | bytes[k + 1]);
    }
  }
  return out;
}
