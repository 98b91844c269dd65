/**
 * xtext (RFC 3461 §4): the encoding of DSN parameters (ENVID, ORCPT). Printable ASCII but
 * "+" and "=" stands for itself; any other octet is "+" and two upper-case hex digits.
 * RFC 6533 §3 lets utf-8 ORCPT values carry UTF-8 as is and `\x{HEX}` escapes; both are
 * read too.
 */

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The text an xtext value stands for; null when the value is not valid xtext. */
export function decodeXtext(value: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b) { // "+" HEXCHAR
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === 0x5c && value[i + 1] === "x" && value[i + 2] === "{") { // RFC 6533 \x{HEX}
      const end = value.indexOf("}", i);
      const hex = end < 0 ? "" : value.slice(i + 3, end);
      if (!/^[0-9A-Fa-f]{1,6}$/.test(hex)) return null;
      bytes.push(...enc.encode(String.fromCodePoint(parseInt(hex, 16))));
      i = end;
    } else if (c === 0x3d || c < 0x21 || c === 0x7f) {
      return null;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      const cp = value.codePointAt(i)!;
      bytes.push(...enc.encode(String.fromCodePoint(cp)));
      if (cp > 0xffff) i++;
    }
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/** The xtext form of `text` (UTF-8 octets outside printable ASCII become "+XX"). */
export function encodeXtext(text: string): string {
  let out = "";
  for (const b of enc.encode(text)) {
    out += b > 0x20 && b < 0x7f && b !== 0x2b && b !== 0x3d
      ? String.fromCharCode(b)
      : `+${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
