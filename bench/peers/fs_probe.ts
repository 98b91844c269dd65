/**
 * What creating a file costs right now in each side's data directory, for bench:peers.
 *
 * On ext4 without a journal (this kind of machine: no /proc/fs/jbd2), the inode allocator
 * skips every free inode of the group that was freed less than 60 s ago (360 s while its
 * inode-table block is dirty: `recently_deleted()` in fs/ext4/ialloc.c), scanning from
 * the group's first inode on every create. After a few thousand deletions in a group a
 * create there costs 215-390 µs instead of ~10 µs, decaying over a minute or more
 * (docs/performance.md, "Stop 36, branch smtpconn"). Both servers create one or two files
 * per message, so a round's rate follows this cost; the probe makes it visible per round,
 * and settle() waits (bounded) until it is low before each run.
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
  /** The last probe: the conditions the run started in. */
  probe: ProbeResult;
  waitedMs: number;
  /** The last probe was at or below the threshold. */
  quiet: boolean;
}

/**
 * Probes `probe`'s directory until a create costs at most `quietUs`, or `maxMs` has passed
 * (then the run starts anyway, and says so). Each target waits for its own directory
 * before each of its runs: deletions by the harness (the sink Maildirs, the previous run's
 * DirBase), by other programs near the same inodes, and by the previous round (Postfix
 * deletes a queue file per message) then decay the same way on both sides, instead of
 * landing in whichever round happens to come next.
 */
export async function settle(
  probe: CreateProbe,
  opts: { quietUs: number; maxMs: number; stepMs?: number },
): Promise<SettleResult> {
  const t0 = Date.now();
  for (;;) {
    const r = probe.run();
    const waitedMs = Date.now() - t0;
    if (r.us <= opts.quietUs || waitedMs >= opts.maxMs) {
      return { probe: r, waitedMs, quiet: r.us <= opts.quietUs };
    }
    await sleep(Math.min(opts.stepMs ?? 2_000, opts.maxMs - waitedMs));
  }
}

/**
 * The directory both sides' data go under, made once. EXT4_TOPDIR_FL (chattr +T) makes
 * ext4's Orlov allocator place each subdirectory (ours-*, peers) in its own lightly used
 * flex group, as it does for directories in /, instead of next to the parent: files are
 * created in their directory's flex group, so neither side then scans past inodes the
 * other side, the test suite (/tmp) or unrelated programs deleted. Returns a note for the
 * log, empty when the flag is set.
 */
export async function prepareDataDir(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const r = await new Deno.Command("chattr", { args: ["+T", dir], stdout: "null", stderr: "piped" })
    .output().catch(() => null);
  if (r?.success) return "";
  const why = r ? new TextDecoder().decode(r.stderr).trim().split("\n")[0] : "no chattr";
  return `could not set chattr +T on ${dir} (${why}): both sides' files may share a block group`;
}
