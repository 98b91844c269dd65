/**
 * Rewriting a message's header without touching its body: fields dropped by name and
 * complete fields added at the end of the header (the delivery pipeline's list headers
 * and Return-Path handling). Works on the byte ranges of header.ts.
 */
import type { HeaderBlock } from "./header.ts";

const CRLF = new Uint8Array([13, 10]);

/**
 * The message with the fields named in `drop` removed and `extra` (complete header
 * lines, CRLF-terminated) added at the end of the header. Trace fields at the top keep
 * their order (RFC 5322 §3.6.7).
 */
export function rewriteHeaders(
  block: HeaderBlock,
  drop: readonly string[],
  extra: Uint8Array,
): Uint8Array {
  const doomed = new Set(drop.map((d) => d.toLowerCase()));
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const f of block.fields) {
    if (!doomed.has(f.name)) continue;
    parts.push(block.bytes.subarray(from, f.start));
    from = f.end;
  }
  parts.push(block.bytes.subarray(from, block.end), extra);
  if (block.bodyStart === block.end && block.end === block.bytes.length) {
    parts.push(CRLF); // no body and no separator: add one
  }
  parts.push(block.bytes.subarray(block.end));
  return concatBytes(parts);
}

/** The byte arrays one after the other, in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
