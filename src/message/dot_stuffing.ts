/**
 * Dot-stuffing (RFC 5321 §4.5.2 for SMTP DATA, RFC 1939 §3 for POP3 multi-line
 * responses): every line that begins with "." gets one more, and the data ends with
 * ".CRLF" at the start of a line. The one implementation for the outbound SMTP client
 * and POP3 RETR/TOP.
 *
 * Messages are stored with CRLF line endings and lines that begin with "." are rare, so
 * the fast path is one vectorized scan that finds nothing to change, and the terminator
 * appended (in place, for POP3 RETR). Bare LFs (files written by other Maildir software)
 * are repaired to CRLF on the way out; a bare CR is sent as CRLF too where the protocol
 * forbids it (SMTP, RFC 5321 §2.3.8) and kept where it is only an odd byte (POP3). Pure
 * functions over bytes.
 */
import { hasBareCr } from "./line_endings.ts";
import { wasmExports } from "../sys/wasm.ts";

const CR = 13, LF = 10, DOT = 46;
const TERMINATOR = new Uint8Array([DOT, CR, LF]);
const EMPTY = new Uint8Array(0);
/** An LF in every byte of a 32-bit word, and the constants of the zero-byte test. */
const LF4 = 0x0a0a0a0a, ONES = 0x01010101, HIGHS = 0x80808080;

/**
 * True when `buf[from, to)` can go on the wire as it is: no line begins with "." (so
 * nothing to dot-stuff) and every LF ends a CRLF (nothing to repair). Runs on every
 * RETR, so it is vectorized: 16 bytes at a time in WebAssembly SIMD (about 0.4 µs for a
 * 6.5 KB message, the copy into its memory included, against 2.5 µs for the fastest
 * JavaScript loop), or 4 at a time in JavaScript where that is not available.
 */
export function isWireClean(buf: Uint8Array, from: number, to: number): boolean {
  if (from >= to) return true;
  if (buf[from] === DOT) return false;
  if (to - from >= SIMD_MIN) {
    const simd = wireScan ?? loadWireScan();
    if (simd) return simdClean(simd, buf, from, to);
  }
  return wordsClean(buf, from, to);
}

/**
 * isWireClean in JavaScript, a 32-bit word at a time: only words holding an LF are
 * looked at byte by byte (about one in twelve in mail text). Exported for tests.
 */
export function wordsClean(buf: Uint8Array, from: number, to: number): boolean {
  if (from >= to) return true;
  if (buf[from] === DOT) return false;
  // Bytes before the first 4-aligned address, then whole words, then the tail.
  const first = Math.min(to, ((buf.byteOffset + from + 3) & ~3) - buf.byteOffset);
  if (!cleanBytes(buf, from, first, from, to)) return false;
  const words = (to - first) >> 2;
  if (words > 0) {
    const w = new Int32Array(buf.buffer, buf.byteOffset + first, words);
    for (let k = 0; k < words; k++) {
      const x = w[k] ^ LF4;
      // Non-zero exactly when some byte of x is zero, i.e. some byte of the word is LF.
      if (((x - ONES) & ~x & HIGHS) !== 0) {
        const at = first + (k << 2);
        if (!cleanBytes(buf, at, at + 4, from, to)) return false;
      }
    }
  }
  return cleanBytes(buf, first + (words << 2), to, from, to);
}

/*
 * The SIMD scan, assembled from this text with wabt's wat2wasm (npm:wabt, --enable-simd):
 *
 * (module
 *   (memory (export "memory") 2)
 *   ;; clean(end): the bytes are at [16, end), with byte 15 the one before them and
 *   ;; [end, end + 17) what follows (zeros, or the next byte then zeros). 1 when no
 *   ;; LF in [16, end) is bare (after a byte other than CR) or followed by ".".
 *   (func (export "clean") (param $end i32) (result i32)
 *     (local $p i32) (local $bad v128) (local $lf v128) (local $cr v128) (local $dot v128)
 *     (local.set $p (i32.const 16))
 *     (local.set $lf (i8x16.splat (i32.const 10)))
 *     (local.set $cr (i8x16.splat (i32.const 13)))
 *     (local.set $dot (i8x16.splat (i32.const 46)))
 *     (block $done
 *       (loop $next
 *         (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
 *         ;; bad |= (byte == LF) & ((byte before != CR) | (byte after == "."))
 *         (local.set $bad
 *           (v128.or (local.get $bad)
 *             (v128.and
 *               (i8x16.eq (v128.load (local.get $p)) (local.get $lf))
 *               (v128.or
 *                 (v128.not
 *                   (i8x16.eq (v128.load (i32.sub (local.get $p) (i32.const 1))) (local.get $cr)))
 *                 (i8x16.eq (v128.load offset=1 (local.get $p)) (local.get $dot))))))
 *         (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *         (br $next)))
 *     (i32.eqz (v128.any_true (local.get $bad)))))
 *
 * No branch per block: LFs are too frequent in mail (one per ~50 bytes) for an early
 * exit to pay; a message that is not clean is rare and goes the slow way anyway.
 */
const WIRE_SCAN_WASM =
  "0061736d0100000001060160017f017f030201000503010002071202066d656d6f7279020005636c65616e00" +
  "000a66016402017f047b41102101410afd0f2103410dfd0f2104412efd0f210502400340200120004f0d0120" +
  "022001fd0004002003fd23200141016bfd0004002004fd23fd4d2001fd0004012005fd23fd50fd4efd502102" +
  "200141106a21010c000b0b2002fd53450b";

/** Bodies shorter than this are scanned in JavaScript: a call and a copy cost more. */
const SIMD_MIN = 256;
/** Bytes scanned per call: the module's 2 pages less the 16 in front and 17 behind. */
export const SIMD_CHUNK = 2 * 65536 - 64;

interface WireScan {
  heap: Uint8Array;
  clean: (end: number) => number;
}

let wireScan: WireScan | null = null;
let wireScanFailed = false;

/**
 * Instantiates the SIMD scan once; null (and the JavaScript scan) where WebAssembly or
 * its SIMD is not available.
 */
function loadWireScan(): WireScan | null {
  if (wireScanFailed) return null;
  const x = wasmExports(WIRE_SCAN_WASM);
  if (x === null) {
    wireScanFailed = true;
    return null;
  }
  wireScan = {
    // The memory never grows, so this view stays valid.
    heap: new Uint8Array((x.memory as WebAssembly.Memory).buffer),
    clean: x.clean as (end: number) => number,
  };
  return wireScan;
}

/** isWireClean through the SIMD scan, a chunk at a time (buf[from] is not "."). */
function simdClean(simd: WireScan, buf: Uint8Array, from: number, to: number): boolean {
  const heap = simd.heap;
  for (let at = from; at < to; at += SIMD_CHUNK) {
    const end = Math.min(to, at + SIMD_CHUNK);
    const n = end - at;
    // The byte before the chunk (0 at the body's start: an LF there is bare), the chunk,
    // the byte after it (for the "." test; 0 at the end) and zeros as far as the last
    // 16-byte loads reach, so that nothing left from an earlier call is read.
    heap[15] = at === from ? 0 : buf[at - 1];
    heap.set(buf.subarray(at, end), 16);
    heap[16 + n] = end < to ? buf[end] : 0;
    heap.fill(0, 17 + n, 33 + n);
    if (simd.clean(16 + n) !== 1) return false;
  }
  return true;
}

/** isWireClean for `buf[at, end)`, a piece of the body `buf[from, to)`. */
function cleanBytes(buf: Uint8Array, at: number, end: number, from: number, to: number): boolean {
  for (let i = at; i < end; i++) {
    if (buf[i] !== LF) continue;
    if (i === from || buf[i - 1] !== CR) return false; // bare LF
    if (i + 1 < to && buf[i + 1] === DOT) return false; // next line needs a "."
  }
  return true;
}

/**
 * The multi-line response built in place, without a copy: `buf` holds the status line
 * in `[0, bodyStart)`, the message in `[bodyStart, bodyEnd)` and spare bytes after it,
 * 3 for ".CRLF" and 2 more for the CRLF an unterminated last line needs. When the
 * message needs no dot-stuffing or repair (isWireClean) and the room suffices, appends
 * them and returns the response: `buf` itself when it fills it exactly, else a view of
 * it; otherwise null (use dotStuff).
 */
export function terminateInPlace(
  buf: Uint8Array,
  bodyStart: number,
  bodyEnd: number,
): Uint8Array | null {
  const lastLineOpen = bodyEnd > bodyStart && buf[bodyEnd - 1] !== LF;
  const room = lastLineOpen ? 5 : 3;
  if (buf.length < bodyEnd + room || !isWireClean(buf, bodyStart, bodyEnd)) return null;
  const end = writeEnd(buf, bodyEnd, lastLineOpen);
  return end === buf.length ? buf : buf.subarray(0, end);
}

/**
 * Writes the end of the data at `at`: CRLF when the last line is still open (the
 * terminator must start a line, RFC 1939 §3, RFC 5321 §4.1.1.4), then ".CRLF". Returns
 * the offset after it.
 */
function writeEnd(out: Uint8Array, at: number, lastLineOpen: boolean): number {
  if (lastLineOpen) {
    out[at++] = CR;
    out[at++] = LF;
  }
  out.set(TERMINATOR, at);
  return at + TERMINATOR.length;
}

/** What a CR that is not followed by LF is: an odd byte, or a line end (sent as CRLF). */
export type BareCr = "keep" | "line-end";

export interface DotStuffOptions {
  /** Bytes that go before the body in the same buffer (a POP3 status line). */
  prefix?: Uint8Array;
  /** "keep" (POP3, the default) or "line-end" (SMTP: a bare CR must not be sent). */
  bareCr?: BareCr;
}

/**
 * One buffer holding the prefix, the dot-stuffed body (lines ending in CRLF, an
 * unterminated last line terminated) and the final ".CRLF", ready for a single write.
 */
export function dotStuff(body: Uint8Array, options: DotStuffOptions = {}): Uint8Array {
  const prefix = options.prefix ?? EMPTY;
  const bareCrEndsLine = options.bareCr === "line-end";
  const len = body.length;
  if (bareCrEndsLine && hasBareCr(body)) return stuffRepaired(prefix, body, true);
  // Where a "." must be inserted: nowhere when the vectorized scan finds the body clean;
  // else one scan over the line ends, which hands a bare LF to the byte-by-byte repair.
  const stuffAt: number[] = [];
  if (!isWireClean(body, 0, len)) {
    if (body[0] === DOT) stuffAt.push(0);
    for (let lf = body.indexOf(LF); lf >= 0; lf = body.indexOf(LF, lf + 1)) {
      if (lf === 0 || body[lf - 1] !== CR) return stuffRepaired(prefix, body, bareCrEndsLine);
      if (lf + 1 < len && body[lf + 1] === DOT) stuffAt.push(lf + 1);
    }
  }
  const lastLineOpen = len > 0 && body[len - 1] !== LF;
  const out = new Uint8Array(
    prefix.length + len + stuffAt.length + (lastLineOpen ? 2 : 0) + TERMINATOR.length,
  );
  out.set(prefix, 0);
  let at = prefix.length;
  let from = 0;
  // Copy the stretches between inserted dots: few segments, not one per line.
  for (const pos of stuffAt) {
    out.set(body.subarray(from, pos), at);
    at += pos - from;
    out[at++] = DOT;
    from = pos;
  }
  out.set(from === 0 ? body : body.subarray(from), at);
  writeEnd(out, at + len - from, lastLineOpen);
  return out;
}

/**
 * The general path, for bodies with bare line ends: CRLF, a bare LF and (with
 * `bareCrEndsLine`) a bare CR each end one line, sent as CRLF. The streaming stuffer's
 * byte-by-byte core over the whole body, writing after the prefix in one buffer.
 */
function stuffRepaired(prefix: Uint8Array, body: Uint8Array, bareCrEndsLine: boolean): Uint8Array {
  // Worst case every byte doubles (a bare line end, or a line-leading dot), plus the end.
  const out = new Uint8Array(prefix.length + 2 * body.length + 2 + TERMINATOR.length);
  out.set(prefix, 0);
  const state = newStuffState();
  const stuff = bareCrEndsLine ? stuffLineEnd : stuffKeep;
  const o = prefix.length + stuff(state, body, out.subarray(prefix.length));
  return out.subarray(0, endData(state, out, o));
}

/** Where a body sent in pieces stands between two pieces. */
interface StuffState {
  /** The next octet begins a line. */
  lineStart: boolean;
  /** The last octet was a CR (an LF right after it is not bare); "keep" mode only. */
  prevCr: boolean;
  /** "line-end" mode: a CR held back until the next octet tells a CRLF from a bare CR. */
  pendingCr: boolean;
}

const newStuffState = (): StuffState => ({ lineStart: true, prevCr: false, pendingCr: false });

/**
 * The core where a bare CR is kept (POP3): `piece` into `out` (2 octets of room per octet),
 * a bare LF repaired to CRLF, a "." added at each line start. Returns the octets written.
 */
function stuffKeep(state: StuffState, piece: Uint8Array, out: Uint8Array): number {
  const n = piece.length;
  let o = 0;
  let lineStart = state.lineStart, prevCr = state.prevCr;
  for (let i = 0; i < n; i++) {
    const b = piece[i];
    if (b === LF) {
      if (!prevCr) out[o++] = CR; // a bare LF is repaired to CRLF
      out[o++] = LF;
      lineStart = true;
      prevCr = false;
      continue;
    }
    if (lineStart && b === DOT) out[o++] = DOT;
    out[o++] = b;
    lineStart = false;
    prevCr = b === CR;
  }
  state.lineStart = lineStart;
  state.prevCr = prevCr;
  return o;
}

/** The core where CRLF, a bare CR and a bare LF each end a line (SMTP); as stuffKeep. */
function stuffLineEnd(state: StuffState, piece: Uint8Array, out: Uint8Array): number {
  const n = piece.length;
  let o = 0, i = 0;
  let lineStart = state.lineStart;
  if (state.pendingCr) {
    // The CR that ended the last piece: a line end, whose LF may begin this one.
    state.pendingCr = false;
    out[o++] = CR;
    out[o++] = LF;
    lineStart = true;
    if (piece[0] === LF) i = 1;
  }
  for (; i < n; i++) {
    const b = piece[i];
    if (b === CR || b === LF) {
      if (b === CR) {
        // Only the next octet tells a CRLF from a bare CR: at the end, wait for it.
        if (i + 1 === n) {
          state.pendingCr = true;
          break;
        }
        if (piece[i + 1] === LF) i++;
      }
      out[o++] = CR;
      out[o++] = LF;
      lineStart = true;
      continue;
    }
    if (lineStart && b === DOT) out[o++] = DOT;
    out[o++] = b;
    lineStart = false;
  }
  state.lineStart = lineStart;
  return o;
}

/**
 * The end of the data at `out[at]` (7 octets of room): a held CR as CRLF, CRLF when the
 * last line is open, then ".CRLF". Returns the offset after it.
 */
function endData(state: StuffState, out: Uint8Array, at: number): number {
  if (state.pendingCr) {
    state.pendingCr = false;
    out[at++] = CR;
    out[at++] = LF;
    state.lineStart = true;
  }
  return writeEnd(out, at, !state.lineStart);
}

/**
 * dotStuff for a body sent in pieces (POP3 RETR and TOP of a large message, the outbound
 * SMTP client sending a queued message, each read from its file in chunks): push() each
 * piece in order, then end() for the terminator. The output is what dotStuff gives for
 * the whole body with the same `bareCr`. A piece with nothing to change comes back as it
 * is (no copy).
 */
export class DotStuffer {
  readonly #bareCrEndsLine: boolean;
  readonly #state = newStuffState();

  constructor(options: { bareCr?: BareCr } = {}) {
    this.#bareCrEndsLine = options.bareCr === "line-end";
  }

  /**
   * The piece as it goes on the wire: `piece` itself when nothing changes, else a copy
   * made in the buffer `into(size)` gives (at least `size` octets: a caller that sends
   * many pieces reuses one), or in a new array.
   */
  push(piece: Uint8Array, into?: (size: number) => Uint8Array): Uint8Array {
    const n = piece.length;
    if (n === 0) return piece;
    const state = this.#state;
    const first = piece[0];
    const edgeClean = !(state.lineStart && first === DOT) && !(first === LF && !state.prevCr) &&
      !state.pendingCr;
    // isWireClean from the second octet: it takes that one for a line start, which can
    // only send a clean piece the slow way, never let a dirty one through.
    if (
      edgeClean && (n === 1 || isWireClean(piece, 1, n)) &&
      !(this.#bareCrEndsLine && (piece[n - 1] === CR || hasBareCr(piece)))
    ) {
      state.lineStart = piece[n - 1] === LF;
      state.prevCr = piece[n - 1] === CR;
      return piece;
    }
    const out = into?.(2 * n + 2) ?? new Uint8Array(2 * n + 2);
    const stuff = this.#bareCrEndsLine ? stuffLineEnd : stuffKeep;
    return out.subarray(0, stuff(state, piece, out));
  }

  /** The end of the data: CRLF when the last line is open, then ".CRLF". */
  end(): Uint8Array {
    const out = new Uint8Array(7);
    return out.subarray(0, endData(this.#state, out, 0));
  }
}
