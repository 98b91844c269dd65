/**
 * Background threads yield the CPU to the event loop (SPEC §7). The loop serves every
 * session; a worker that indexes or scans (the full-text index, header keys, folder
 * scans) works for one request. When every core is busy the kernel shares them out
 * evenly, so the loop waited its turn behind a worker's indexing, and every idle client's
 * NOOP behind both. A higher nice value for the worker's own thread (on Linux the nice
 * value belongs to each thread: nice(3) changes the caller's) makes the kernel run the
 * loop first, and takes nothing from the worker while a core is idle.
 */
import { systemLibc } from "./libc.ts";

/** How much lower than the daemon: 10, as `nice` without an argument. */
export const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's priority by BACKGROUND_NICE; call it first thing in a
 * worker. False where it cannot be done (no FFI, not Linux): the thread then runs at the
 * loop's priority, as before.
 */
export function runInBackground(): boolean {
  const libc = systemLibc();
  if (!libc) return false;
  // nice(3) returns the new value, and -1 both for an error and for a new value of -1;
  // lowering a priority needs no privilege, so only a missing FFI fails here.
  libc.nice(BACKGROUND_NICE);
  return true;
}
