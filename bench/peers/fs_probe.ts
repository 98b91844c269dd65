/**
 * What creating a file costs right now in each side's data directory, for bench:peers.
 *
 * On ext4 without a journal (this kind of machine: no /proc/fs/jbd2), the inode allocator
 * skips every free inode of the group that was freed less than 60 s ago (360 s while its
 * inode-table block is dirty: `recently_deleted()` in fs/ext4/ialloc.c), scanning from
 * the group's first inode on every create. After a few thousand deletions in a group a
 * create there costs 215-390 µs instead of ~10 µs, decaying over a minute or more
 * (docs/performance.md, "Stop 36, branch smtpconn"). Both servers create one or two files
 * per message, so a round's rate follows this cost; the probe makes it visible per round.
 */
import { join } from "node:path";
import { sleep } from "./proc.ts";

/** Creates per probe: ~1 ms when quiet, ~30 ms at the worst seen. */
const PROBE_FILES = 100;

export interface ProbeResult {
  /** Mean µs per create (open with O_CREAT|O_EXCL, then close). */
  us: number;
  /** The first probe file's inode: inode / inodes-per-group is its block group. */
  ino: number;
}

/**
 * Probes one directory. The probe files are kept until the run removes the directory:
 * deleting them would make the next creates in that group (the server's too) slower.
 */
export class CreateProbe {
  #next = 0;
  constructor(readonly dir: string) {}

  run(): ProbeResult {
    Deno.mkdirSync(this.dir, { recursive: true });
    const first = join(this.dir, `p${this.#next}`);
    const t0 = performance.now();
    for (let i = 0; i < PROBE_FILES; i++) {
      Deno.openSync(join(this.dir, `p${this.#next++}`), { write: true, createNew: true }).close();
    }
    const us = (performance.now() - t0) * 1000 / PROBE_FILES;
    return { us, ino: Deno.statSync(first).ino ?? 0 };
  }

  async remove(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

export const fmtProbe = (p: ProbeResult) => `${p.us.toFixed(1)} µs/create (inode ${p.ino})`;

export interface SettleResult {
  waitedMs: number;
  quiet: boolean;
  /** The last probe of each directory, by label. */
  last: Record<string, ProbeResult>;
}

/**
 * Probes every directory until all are at or below `quietUs` per create, or `maxMs` has
 * passed (then the round runs anyway and the output says so). Each side waits for the
 * other too: the rounds alternate, so a slow group on either side would otherwise land
 * in whichever round comes next.
 */
export async function settle(
  probes: Record<string, CreateProbe>,
  opts: { quietUs: number; maxMs: number; stepMs?: number },
): Promise<SettleResult> {
  const t0 = Date.now();
  for (;;) {
    const last: Record<string, ProbeResult> = {};
    for (const [label, p] of Object.entries(probes)) last[label] = p.run();
    const quiet = Object.values(last).every((r) => r.us <= opts.quietUs);
    const waitedMs = Date.now() - t0;
    if (quiet || waitedMs >= opts.maxMs) return { waitedMs, quiet, last };
    await sleep(Math.min(opts.stepMs ?? 5_000, opts.maxMs - waitedMs));
  }
}
