/** Dot-stuffing of the message the outbound client sends after DATA (RFC 5321 §4.5.2). */

const CR = 13, LF = 10, DOT = 46;

/**
 * RFC 5321 §4.5.2: a line that begins with "." gets one more; the data ends with
 * CRLF "." CRLF. Bare CR or LF are sent as CRLF so the end marker cannot be forged
 * and the receiver sees well-formed lines (§2.3.8).
 */
export function dotStuff(data: Uint8Array): Uint8Array {
  // Worst case every byte is a bare LF (CRLF) or a line-leading dot, plus the end.
  const out = new Uint8Array(data.length * 2 + 5);
  let o = 0;
  let lineStart = true;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === CR || b === LF) {
      // CRLF, bare CR and bare LF each end one line.
      if (b === CR && data[i + 1] === LF) i++;
      out[o++] = CR;
      out[o++] = LF;
      lineStart = true;
      continue;
    }
    if (lineStart && b === DOT) out[o++] = DOT;
    out[o++] = b;
    lineStart = false;
  }
  if (!lineStart) {
    out[o++] = CR;
    out[o++] = LF;
  }
  out[o++] = DOT;
  out[o++] = CR;
  out[o++] = LF;
  return out.subarray(0, o);
}
