/**
 * Failed logins per key (a client address, an account) within a sliding window: after
 * `maxFailures` of them within `windowMs` the key is locked for `lockMs`, during which
 * attempts are refused without a password check. The admin port (SPEC §4, 5 failures) and
 * the mail services (SPEC §7, 10 failures, auth/guard.ts) share this one mechanism.
 *
 * Pure bookkeeping with an injectable clock, so the rules are unit-tested without waiting.
 * It lives in memory: a restart clears it. The number of keys is bounded, so a flood of
 * sources or invented account names cannot grow it without end.
 */

export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

/** Bound on tracked keys; the least recently failing ones are forgotten first. */
const MAX_TRACKED = 10_000;

/** Attempts of one key that may wait in begin() for a running check; more are refused. */
const MAX_WAITING = 1000;

interface Track {
  failures: number[];
  lockedUntil: number;
  /** Checks begun (tryBegin) and not yet finished: they count as failures until then. */
  pending: number;
}

export class FailureWindow {
  readonly policy: LockoutPolicy;
  readonly #now: () => number;
  readonly #tracks = new Map<string, Track>();
  readonly #checking = new Map<string, Promise<unknown>>();
  /** Attempts waiting in begin() for a running check of the key to end. */
  readonly #waiting = new Map<string, (() => void)[]>();

  constructor(policy: LockoutPolicy, now: () => number = Date.now) {
    this.policy = policy;
    this.#now = now;
  }

  /** Epoch ms until which the key is locked, or 0 when it is not. */
  lockedUntil(key: string): number {
    const track = this.#tracks.get(key);
    return track && track.lockedUntil > this.#now() ? track.lockedUntil : 0;
  }

  /** Failures of the key still inside the window. */
  failures(key: string): number {
    const track = this.#tracks.get(key);
    if (!track) return 0;
    const now = this.#now();
    return track.failures.filter((t) => now - t < this.policy.windowMs).length;
  }

  /** Records a failure; returns the lock's end when this failure locked the key, else 0. */
  recordFailure(key: string): number {
    const now = this.#now();
    const track = this.#track(key, now);
    track.failures = track.failures.filter((t) => now - t < this.policy.windowMs);
    track.failures.push(now);
    if (track.failures.length >= this.policy.maxFailures) {
      track.lockedUntil = now + this.policy.lockMs;
      track.failures = [];
      return track.lockedUntil;
    }
    return 0;
  }

  /** Forgets the key's failures (not a running lock). */
  clear(key: string): void {
    const track = this.#tracks.get(key);
    if (track && track.lockedUntil <= this.#now() && track.pending === 0) this.#tracks.delete(key);
  }

  /**
   * Reserves one password check for the key: false when it is locked, or when the
   * failures so far plus the checks still running reach the limit. Parallel attempts thus
   * cannot all pass before the last allowed failure is counted. Call finish() after.
   */
  tryBegin(key: string): boolean {
    if (this.lockedUntil(key)) return false;
    const now = this.#now();
    const track = this.#track(key, now);
    const recent = track.failures.filter((t) => now - t < this.policy.windowMs).length;
    if (recent + track.pending >= this.policy.maxFailures) return false;
    track.pending++;
    return true;
  }

  /**
   * tryBegin(), but an attempt that finds the limit taken only by checks still running
   * waits for them to end instead of being refused: they may all succeed. A webmail or a
   * client opening many sessions at once logs in from one address in parallel, and
   * refusing its good logins as "too many failures" would be wrong; the guess limit is
   * kept all the same, since at most maxFailures - failures checks run at once. False
   * when the key is (or becomes) locked, or when MAX_WAITING attempts already wait.
   */
  async begin(key: string): Promise<boolean> {
    for (;;) {
      if (this.tryBegin(key)) return true;
      const track = this.#tracks.get(key);
      if (this.lockedUntil(key) || !track || track.pending === 0) return false;
      let waiting = this.#waiting.get(key);
      if (!waiting) this.#waiting.set(key, waiting = []);
      if (waiting.length >= MAX_WAITING) return false;
      await new Promise<void>((wake) => waiting.push(wake));
    }
  }

  /** Ends a check begun with tryBegin; returns the lock's end when it locked the key, else 0. */
  finish(key: string, failed: boolean): number {
    const track = this.#tracks.get(key);
    if (track && track.pending > 0) track.pending--;
    const locked = failed ? this.recordFailure(key) : 0;
    // Every waiter looks again, in arrival order: one takes the freed check, the rest
    // wait on, or all are refused when this failure locked the key.
    const waiting = this.#waiting.get(key);
    if (waiting) {
      this.#waiting.delete(key);
      for (const wake of waiting) wake();
    }
    return locked;
  }

  /**
   * Runs the checks of one key one after another (the admin port: one password check per
   * address at a time, so parallel guesses cannot slip past the last allowed failure).
   */
  exclusive<T>(key: string, check: () => Promise<T>): Promise<T> {
    const before = this.#checking.get(key) ?? Promise.resolve();
    const run = before.then(check, check);
    const tail = run.catch(() => {});
    this.#checking.set(key, tail);
    tail.then(() => {
      if (this.#checking.get(key) === tail) this.#checking.delete(key);
    });
    return run;
  }

  get tracked(): number {
    return this.#tracks.size;
  }

  #track(key: string, now: number): Track {
    let track = this.#tracks.get(key);
    if (track) {
      this.#tracks.delete(key); // re-inserted: the map's order is least recently used first
    } else {
      this.#prune(now);
      track = { failures: [], lockedUntil: 0, pending: 0 };
    }
    this.#tracks.set(key, track);
    return track;
  }

  #prune(now: number): void {
    if (this.#tracks.size < MAX_TRACKED) return;
    for (const [key, track] of this.#tracks) {
      const stale = track.lockedUntil <= now && track.pending === 0 &&
        track.failures.every((t) => now - t >= this.policy.windowMs);
      if (stale) this.#tracks.delete(key);
    }
    // Still too many: forget the least recently used keys.
    for (const key of this.#tracks.keys()) {
      if (this.#tracks.size < MAX_TRACKED) break;
      this.#tracks.delete(key);
    }
  }
}
