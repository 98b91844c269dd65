/**
 * Whether a folder's new/ and cur/ may have changed behind our back. We remember each
 * directory's mtime as of the moment our state matched it (a DirMark, kept in the
 * index too) and read a directory again only when its mtime moved in a way we did not
 * cause, or when that moment is too close to the mtime to trust it (see scanPlan).
 */
import { join } from "node:path";
import type { DirMark } from "./index_db.ts";

export type Sub = "new" | "cur";
export const SUBS: readonly Sub[] = ["new", "cur"];

/** How long after a directory's mtime a scan must happen to be trusted (see scanPlan). */
const MTIME_SETTLE_MS = 2000;
/** Directories above this many files are verified at most every VERIFY_MS. */
const BIG_DIR = 5000;
const VERIFY_MS = 30_000;

/** A directory's mtime (a stat on every refresh: synchronous, see fsutil existsSync). */
export function mtimeOf(path: string): Promise<number> {
  return Promise.try(() => Deno.statSync(path).mtime?.getTime() ?? 0);
}

function unknownMarks(): Record<Sub, DirMark> {
  return { new: { mtime: -1, checkedAt: 0 }, cur: { mtime: -1, checkedAt: 0 } };
}

/** Which directories to read, and the marks they get once they are read. */
export interface ScanPlan {
  subs: Sub[];
  marks: Record<Sub, DirMark>;
}

export class DirMarks {
  readonly #path: string;
  /** Directory state the messages in memory match (mtime, and when that was established). */
  #marks = unknownMarks();
  /** When each directory was last read. */
  #verified: Record<Sub, number> = { new: 0, cur: 0 };
  /** Big directories due for a verification read (see scanPlan, verify.ts). */
  #verifyDue = new Set<Sub>();

  constructor(folderPath: string) {
    this.#path = folderPath;
  }

  mark(sub: Sub): DirMark {
    return this.#marks[sub];
  }

  /** Takes the marks the index recorded. */
  load(newDir: DirMark, curDir: DirMark): void {
    this.#marks = { new: newDir, cur: curDir };
  }

  /** Nothing is known: the next check reads both directories. */
  reset(): void {
    this.#marks = unknownMarks();
  }

  /** Our state no longer matches either directory (kept: when that was last known). */
  invalidate(): void {
    this.#marks.new.mtime = this.#marks.cur.mtime = -1;
  }

  /** A directory was read and the messages now match it as of `mark`. */
  settle(sub: Sub, mark: DirMark): void {
    this.#marks[sub] = mark;
    this.#verified[sub] = Date.now();
  }

  /** The big directories due for a background verification (and forgets them). */
  takeVerifyDue(): Sub[] {
    const due = [...this.#verifyDue];
    this.#verifyDue.clear();
    return due;
  }

  /** A verification started: the next one is VERIFY_MS away, whatever it finds. */
  verifying(sub: Sub): void {
    this.#verified[sub] = Date.now();
  }

  /** Records the marks in the index (inside its transaction). */
  saveTo(ix: { setDirs(newDir: DirMark, curDir: DirMark): void }): void {
    ix.setDirs(this.#marks.new, this.#marks.cur);
  }

  /**
   * The directories to read now (null: none), from one stat of each. `force` reads both
   * whatever their mtimes say; `filesIn` tells how many of our messages each one holds.
   */
  async scanPlan(force: boolean, filesIn: (sub: Sub) => number): Promise<ScanPlan | null> {
    const at = Date.now();
    const [newMtime, curMtime] = await Promise.all(
      SUBS.map((s) => mtimeOf(join(this.#path, s))),
    );
    const seen: Record<Sub, number> = { new: newMtime, cur: curMtime };
    const subs: Sub[] = [];
    for (const sub of SUBS) {
      const d = this.#marks[sub], m = seen[sub];
      if (force || d.mtime !== m) {
        subs.push(sub);
        continue;
      }
      // Directory mtimes are coarse (milliseconds in Deno, the kernel's tick or a whole
      // second on some file systems): a file added in the same tick as the moment our
      // state was established leaves them unchanged. Like Dovecot, trust an unchanged
      // mtime only when that moment came well after it. Until then a small directory is
      // read again; a big one once the tick is surely over, at most every VERIFY_MS (a
      // foreign change in the same tick as one of ours shows up that much later), and
      // not by this check: verify.ts reads it in the background, without the folder's
      // mutex, so no command waits for a read of 100,000 names.
      if (d.checkedAt - m > MTIME_SETTLE_MS) continue;
      if (filesIn(sub) <= BIG_DIR) subs.push(sub);
      else if (at - m > MTIME_SETTLE_MS && at - this.#verified[sub] > VERIFY_MS) {
        this.#verifyDue.add(sub);
      }
    }
    if (subs.length === 0) return null;
    return {
      subs,
      marks: { new: { mtime: newMtime, checkedAt: at }, cur: { mtime: curMtime, checkedAt: at } },
    };
  }

  /**
   * Runs a change to the given directories between two stats of them: when a directory
   * was as we knew it before, its new mtime is ours and no scan is needed for it.
   */
  async own<T>(subs: readonly Sub[], op: () => Promise<T>): Promise<T> {
    const finish = await this.begin(subs);
    try {
      return await op();
    } finally {
      await finish();
    }
  }

  /**
   * own() in two steps, for a change that starts before the marks it is compared with are
   * settled (scan.ts moves new/ to cur/ while it reads them in): the first stat now, the
   * second when the returned function is called, compared with the marks as they are then.
   */
  async begin(subs: readonly Sub[]): Promise<() => Promise<void>> {
    const paths = subs.map((s) => join(this.#path, s));
    const before = await Promise.all(paths.map(mtimeOf));
    return async () => {
      const at = Date.now();
      const after = await Promise.all(paths.map((p) => mtimeOf(p).catch(() => -2)));
      subs.forEach((sub, i) => {
        if (this.#marks[sub].mtime === before[i] && before[i] >= 0) {
          this.#marks[sub] = { mtime: after[i], checkedAt: at };
        }
      });
    };
  }
}
