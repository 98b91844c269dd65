/**
 * The response of a plain SEARCH or UID SEARCH of one flag over the whole mailbox
 * (SEARCH UNSEEN, SEEN, DELETED, KEYWORD x, ALL): RFC 3501 §7.2.5 "* SEARCH" and " n" per
 * match in order, written from the folder's letter-set column (each message's number
 * among its distinct flag-letter sets, store/folder/flag_runs.ts) straight into the
 * reply's buffer, with no number, string or list made per match.
 *
 * Why WebAssembly: the command runs a handful of times in a process, too few for V8 to
 * optimize JavaScript, so its cost was the interpreter's, per message. SEARCH UNSEEN over
 * 100,000 messages (90,000 hits, 530 KB) took 15-40 ms the first time in a process
 * (runs found with typed-array indexOf, digits counted up per number in JavaScript) and
 * 2.5 ms warm. The module below is never interpreted: V8's baseline compiler for
 * WebAssembly (Liftoff) compiles it at its first call, so its one pass over the column
 * costs about the same the first time as the fifth, 0.6 ms, plus the copies in and out
 * and the first writes to fresh memory. Where WebAssembly is missing (V8's --jitless) the
 * same pass runs in JavaScript.
 */
import type { FlagIds } from "../store/folder/flag_runs.ts";
import { writeDigits } from "./wire.ts";
import { wasmExports } from "../sys/wasm.ts";

/*
 * The pass, assembled from this text with wabt's wat2wasm (npm:wabt 1.0.39):
 *
 * (module
 *   (memory (export "memory") 1)
 *   (global $stop (export "stop") (mut i32) (i32.const 0))
 *   ;; line(ids, width, end, want, sets, values, add, out): for each position i in [0, end),
 *   ;; its letter-set number ids[i] (width 1, 2 or 4 octets, little-endian); when
 *   ;; want[number] is not 0, " " and the digits of values[i] + add (u32 each; values 0:
 *   ;; none, i + add) are written at out. A number >= sets stops it there. Returns the end
 *   ;; of what was written; `stop` holds where it stopped (end when nothing did). The text
 *   ;; of the last number is kept at [0, 16): " " then $len digits, counted up when the
 *   ;; next is at most 16 past it, else divided anew; 16 octets are copied per number.
 *   (func (export "line") (param $ids i32) (param $width i32) (param $end i32) (param $want i32)
 *       (param $sets i32) (param $values i32) (param $add i32) (param $out i32) (result i32)
 *     (local $i i32) (local $id i32) (local $v i32) (local $num i32) (local $len i32)
 *     (local $k i32) (local $c i32)
 *     (i32.store8 (i32.const 0) (i32.const 32))
 *     (local.set $num (i32.const -1))
 *     (block $done
 *       (loop $next
 *         (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
 *         (local.set $id
 *           (if (result i32) (i32.eq (local.get $width) (i32.const 1))
 *             (then (i32.load8_u (i32.add (local.get $ids) (local.get $i))))
 *             (else (if (result i32) (i32.eq (local.get $width) (i32.const 2))
 *               (then (i32.load16_u
 *                 (i32.add (local.get $ids) (i32.shl (local.get $i) (i32.const 1)))))
 *               (else (i32.load
 *                 (i32.add (local.get $ids) (i32.shl (local.get $i) (i32.const 2)))))))))
 *         (br_if $done (i32.ge_u (local.get $id) (local.get $sets)))
 *         (if (i32.load8_u (i32.add (local.get $want) (local.get $id)))
 *           (then
 *             (local.set $v (i32.add (local.get $add)
 *               (if (result i32) (local.get $values)
 *                 (then (i32.load
 *                   (i32.add (local.get $values) (i32.shl (local.get $i) (i32.const 2)))))
 *                 (else (local.get $i)))))
 *             (if (i32.and (i32.ge_s (local.get $num) (i32.const 0))
 *                   (i32.le_u (i32.sub (local.get $v) (local.get $num)) (i32.const 16)))
 *               (then
 *                 ;; counted up from $num to $v: the last digit, carried over nines
 *                 (block $counted
 *                   (loop $up
 *                     (br_if $counted (i32.eq (local.get $num) (local.get $v)))
 *                     (local.set $num (i32.add (local.get $num) (i32.const 1)))
 *                     (local.set $k (local.get $len))
 *                     (block $carried
 *                       (loop $carry
 *                         (br_if $carried (i32.eqz (local.get $k)))
 *                         (local.set $c (i32.load8_u (local.get $k)))
 *                         (if (i32.ne (local.get $c) (i32.const 57))
 *                           (then
 *                             (i32.store8 (local.get $k) (i32.add (local.get $c) (i32.const 1)))
 *                             (br $up)))
 *                         (i32.store8 (local.get $k) (i32.const 48))
 *                         (local.set $k (i32.sub (local.get $k) (i32.const 1)))
 *                         (br $carry)))
 *                     ;; all nines: "1" and one zero more
 *                     (i32.store8 (i32.const 1) (i32.const 49))
 *                     (local.set $len (i32.add (local.get $len) (i32.const 1)))
 *                     (i32.store8 (local.get $len) (i32.const 48))
 *                     (br $up))))
 *               (else
 *                 ;; divided anew: its digits counted, then filled in from the right
 *                 (local.set $num (local.get $v))
 *                 (local.set $len (i32.const 1))
 *                 (local.set $c (local.get $v))
 *                 (block $counted
 *                   (loop $more
 *                     (br_if $counted (i32.lt_u (local.get $c) (i32.const 10)))
 *                     (local.set $c (i32.div_u (local.get $c) (i32.const 10)))
 *                     (local.set $len (i32.add (local.get $len) (i32.const 1)))
 *                     (br $more)))
 *                 (local.set $k (local.get $len))
 *                 (local.set $c (local.get $v))
 *                 (loop $fill
 *                   (i32.store8 (local.get $k)
 *                     (i32.add (i32.const 48) (i32.rem_u (local.get $c) (i32.const 10))))
 *                   (local.set $c (i32.div_u (local.get $c) (i32.const 10)))
 *                   (local.set $k (i32.sub (local.get $k) (i32.const 1)))
 *                   (br_if $fill (local.get $k)))))
 *             (i64.store (local.get $out) (i64.load (i32.const 0)))
 *             (i64.store offset=8 (local.get $out) (i64.load (i32.const 8)))
 *             (local.set $out (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 1))))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br $next)))
 *     (global.set $stop (local.get $i))
 *     (local.get $out)))
 */
const LINE_WASM = "0061736d01000000010d0160087f7f7f7f7f7f7f7f017f0302010005030100010606017f0141" +
  "000b071803066d656d6f727902000473746f700300046c696e6500000af20201ef0201077f410041203a" +
  "0000417f210b02400340200820024f0d012001410146047f200020086a2d0000052001410246047f2000" +
  "20084101746a2f010005200020084102746a2802000b0b2109200920044f0d01200320096a2d00000440" +
  "20062005047f200520084102746a2802000520080b6a210a200b41004e200a200b6b41104d7104400240" +
  "0340200b200a460d01200b41016a210b200c210d02400340200d450d01200d2d0000210e200e41394704" +
  "40200d200e41016a3a00000c030b200d41303a0000200d41016b210d0c000b0b410141313a0000200c41" +
  "016a210c200c41303a00000c000b0b05200a210b4101210c200a210e02400340200e410a490d01200e41" +
  "0a6e210e200c41016a210c0c000b0b200c210d200a210e0340200d4130200e410a706a3a0000200e410a" +
  "6e210e200d41016b210d200d0d000b0b20074100290300370300200741082903003703082007200c4101" +
  "6a6a21070b200841016a21080c000b0b2008240020070b";

/** Where the wanted-set table starts in the module's memory (the number's text is below). */
const WANT_AT = 32;
/**
 * The module's memory is grown to what a search needs and kept (about 1.6 MB for a UID
 * SEARCH of 100,000 messages); a search that would need more (a folder of some two million
 * messages) runs in JavaScript.
 */
const MAX_MEMORY = 32 << 20;

interface Pass {
  memory: WebAssembly.Memory;
  stop: WebAssembly.Global;
  line: (...args: number[]) => number;
}

/** The module (null: WebAssembly is not available; undefined: not made yet). */
let pass: Pass | null | undefined;

function loadPass(): Pass | null {
  if (pass !== undefined) return pass;
  const x = wasmExports(LINE_WASM);
  pass = x && {
    memory: x.memory as WebAssembly.Memory,
    stop: x.stop as WebAssembly.Global,
    line: x.line as Pass["line"],
  };
  return pass;
}

/** Whether the WebAssembly pass can run here (tests; not under V8's --jitless). */
export function passAvailable(): boolean {
  return loadPass() !== null;
}

/** The module memory a warm-up writes once: a SEARCH of 100,000 messages fits in it. */
const WARM_BYTES = 1 << 20;

/**
 * For a warm-up at start: compiles the pass, runs it once on a one-message column, and
 * writes the first MiB of its memory. A process's first SEARCH then pays neither for the
 * module's compile (1.5-3 ms here), nor for its first call (0.6-0.9 ms: V8 compiles a
 * module's function when it is first called), nor for the first write to each page of
 * fresh memory (2-6 ms over the 530 KB of a SEARCH UNSEEN with 90,000 matches).
 */
export function warmSearchLine(): void {
  const p = loadPass();
  if (p === null) return;
  const col = { sets: [""], ids: new Uint8Array(1), end: 1 };
  searchLineInto("*", col, [true], null, 1, 1, () => false, "", (n) => new Uint8Array(n));
  const size = p.memory.buffer.byteLength;
  if (size < WARM_BYTES) p.memory.grow((WARM_BYTES - size) / 65536);
  new Uint8Array(p.memory.buffer).fill(0);
}

/** How many decimal digits `v` (a non-negative integer) has. */
function decimalLength(v: number): number {
  let n = 1;
  for (let low = 10; v >= low; low *= 10) n++;
  return n;
}

const align8 = (n: number) => (n + 7) & ~7;

/**
 * The module's pass over the first `col.end` positions: the octets it wrote in its memory,
 * and the position it stopped at; null when it cannot run (no WebAssembly, or too large).
 */
function runPass(
  col: FlagIds,
  want: readonly boolean[],
  values: Uint32Array | null,
  add: number,
): { heap: Uint8Array; from: number; to: number; stop: number } | null {
  const { ids, end } = col;
  const p = loadPass();
  if (p === null || end === 0) return null;
  // Fewer than 256 sets (the usual: a folder that only received mail has two): the numbers
  // go in as one octet each, saturated, so one past the sets still names none. The
  // columns' are 4 octets: 100 KB copied instead of 400 KB, fresh pages on the first call.
  const narrow = want.length <= 255 && ids.BYTES_PER_ELEMENT > 1;
  const width = narrow ? 1 : ids.BYTES_PER_ELEMENT;
  const idsAt = align8(WANT_AT + want.length);
  const valuesAt = align8(idsAt + end * width);
  const outAt = values === null ? valuesAt : align8(valuesAt + end * 4);
  const top = (values === null ? end - 1 : values[end - 1]) + add;
  // Every number as long as the largest, and the 16 octets the last copy writes.
  const need = outAt + end * (1 + decimalLength(top)) + 16;
  if (need > MAX_MEMORY) return null;
  const size = p.memory.buffer.byteLength;
  if (size < need) p.memory.grow(Math.ceil((need - size) / 65536));
  const heap = new Uint8Array(p.memory.buffer);
  for (let s = 0; s < want.length; s++) heap[WANT_AT + s] = want[s] ? 1 : 0;
  if (narrow) new Uint8ClampedArray(p.memory.buffer, idsAt, end).set(ids.subarray(0, end));
  else heap.set(new Uint8Array(ids.buffer, ids.byteOffset, end * width), idsAt);
  if (values !== null) {
    heap.set(new Uint8Array(values.buffer, values.byteOffset, end * 4), valuesAt);
  }
  const to = p.line(idsAt, width, end, WANT_AT, want.length, values ? valuesAt : 0, add, outAt);
  return { heap, from: outAt, to, stop: p.stop.value as number };
}

/**
 * Writes `head`, then " n" for each of the first `n` positions i that match, then `tail`,
 * into the buffer `alloc(size)` gives for at most `size` octets; returns the octets
 * written. Below `col.end`, i matches when `want[col.ids[i]]`; from there on, or from a
 * number that names no set, when `matches(i)`. n is `values[i] + add`, or `i + add` when
 * `values` is null; values increase; head and tail are ASCII. `wasm` false: JavaScript
 * only (tests).
 */
export function searchLineInto(
  head: string,
  col: FlagIds,
  want: readonly boolean[],
  values: Uint32Array | null,
  add: number,
  n: number,
  matches: (i: number) => boolean,
  tail: string,
  alloc: (size: number) => Uint8Array,
  wasm = true,
): number {
  const done = wasm ? runPass(col, want, values, add) : null;
  const stop = done?.stop ?? 0;
  const written = done ? done.to - done.from : 0;
  // The rest: room for every number as long as the largest (the last: values increase).
  const top = n === 0 ? 0 : (values === null ? n - 1 : values[n - 1]) + add;
  const out = alloc(head.length + written + (n - stop) * (1 + decimalLength(top)) + tail.length);
  let at = 0;
  for (let k = 0; k < head.length; k++) out[at++] = head.charCodeAt(k);
  if (done) out.set(done.heap.subarray(done.from, done.to), at);
  at += written;
  const { ids, end } = col;
  for (let i = stop; i < n; i++) {
    const id = i < end ? ids[i] : want.length;
    if (id < want.length ? want[id] : matches(i)) {
      out[at++] = 0x20;
      at = writeDigits(out, at, (values === null ? i : values[i]) + add);
    }
  }
  for (let k = 0; k < tail.length; k++) out[at++] = tail.charCodeAt(k);
  return at;
}
