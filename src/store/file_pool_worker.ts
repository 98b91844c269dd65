/**
 * The thread that creates the delivery file pool's files (file_pool.ts): empty files,
 * mode 0600, O_CLOEXEC, opened write-only with libc so that their descriptors are plain
 * numbers of the process's one descriptor table, which the event loop then writes to.
 *
 * It is told once where (the init message) and then never returns to its own event loop:
 * it fills the ring shared with the event loop up to its capacity, one file at a time
 * (each published as soon as it exists, so an empty pool gets its first file after one
 * create, not after a batch), and then sleeps in Atomics.wait until the event loop takes
 * the pool below its low-water mark or stops it. Creates that fail (a full disk, too many
 * open files) are retried after a pause; meanwhile deliveries create their files
 * themselves. It runs at a lower priority, as every background thread (SPEC §7): under a
 * load it fell behind in 14 of 6,000 takes (smtp-source -s 16), the same A/B figures as
 * at the loop's priority (docs/performance.md, "Stop 37, branch tmppool").
 */
import { runInBackground } from "../sys/thread_priority.ts";
import { cBytesInto, O_CLOEXEC, O_CREAT, O_EXCL, O_WRONLY, systemLibc } from "../sys/libc.ts";
import {
  CAPACITY,
  FD,
  HEAD,
  LOW_WATER,
  poolFileName,
  type PoolInit,
  type PoolNote,
  SEQ,
  SLOTS,
  STOP,
  TAIL,
  WANT,
} from "./file_pool.ts";

/** How long a failed create waits before the next try. */
const RETRY_MS = 1000;

const port = self as unknown as Worker;

function note(n: PoolNote): void {
  port.postMessage(n);
}

function run(init: PoolInit): void {
  const c = systemLibc();
  if (c === null) return note({ failed: "no FFI permission or not Linux" });
  const ctl = new Int32Array(init.control);
  const slots = new Int32Array(init.control, SLOTS * 4);
  // Room for any name's C string: the directory, "/<n>/", the prefix and the number, each
  // character up to 3 octets (cBytesInto needs that much).
  const path = new Uint8Array((init.dir.length + init.prefix.length + 16) * 3 + 1);
  let tail = Atomics.load(ctl, TAIL);
  let seq = 0;
  let failing = false;
  for (;;) {
    if (Atomics.load(ctl, STOP) !== 0) break;
    if (((tail - Atomics.load(ctl, HEAD)) | 0) < CAPACITY) {
      const name = poolFileName(init.dir, init.prefix, seq);
      path[cBytesInto(name, path, 0)] = 0;
      const fd = c.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
      if (fd < 0) {
        // A full disk, too many open files, a name taken: the next name, after a pause.
        seq = (seq + 1) & 0x7fffffff;
        if (!failing) note({ createFailed: name });
        failing = true;
        Atomics.wait(ctl, STOP, 0, RETRY_MS);
        continue;
      }
      failing = false;
      const slot = tail & (CAPACITY - 1);
      slots[slot * 2 + FD] = fd;
      slots[slot * 2 + SEQ] = seq;
      seq = (seq + 1) & 0x7fffffff;
      // The slot is written before the tail moves past it (Atomics order both).
      Atomics.store(ctl, TAIL, tail = (tail + 1) | 0);
      continue;
    }
    // Full. Told to refill once below the low-water mark: the want flag is cleared first
    // and the level read after, so a take that saw it set (and did not wake us) is seen here.
    Atomics.store(ctl, WANT, 0);
    if (((tail - Atomics.load(ctl, HEAD)) | 0) < LOW_WATER) continue;
    Atomics.wait(ctl, WANT, 0);
  }
  // Everything created is in the ring: the event loop closes and removes what is left.
  note({ stopped: true });
}

runInBackground(); // sys/thread_priority.ts: the event loop goes first (an empty pool only
// means creates on the loop, as without it)
port.onmessage = (ev: MessageEvent<PoolInit>) => {
  port.onmessage = null;
  run(ev.data);
};
