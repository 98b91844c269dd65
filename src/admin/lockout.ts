/**
 * Failed admin logins per client address (SPEC §4): 5 failures within 10 minutes lock
 * the address out for 10 minutes, during which even the right password is refused.
 * Pure bookkeeping with an injectable clock, so the rule is unit-tested without waiting.
 */

export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

export const DEFAULT_POLICY: LockoutPolicy = {
  maxFailures: 5,
  windowMs: 10 * 60_000,
  lockMs: 10 * 60_000,
};

/** Bound on tracked addresses, so a flood of sources cannot grow the map without end. */
const MAX_TRACKED = 10_000;

interface Track {
  failures: number[];
  lockedUntil: number;
}

export class LoginGuard {
  readonly #policy: LockoutPolicy;
  readonly #now: () => number;
  readonly #byIp = new Map<string, Track>();
  readonly #checking = new Map<string, Promise<unknown>>();

  constructor(policy: LockoutPolicy = DEFAULT_POLICY, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
  }

  /** Epoch ms until which the address is locked out, or 0 when it is not. */
  lockedUntil(ip: string): number {
    const track = this.#byIp.get(ip);
    return track && track.lockedUntil > this.#now() ? track.lockedUntil : 0;
  }

  /** Records a failure; returns the lock's end when this failure locked the address, else 0. */
  recordFailure(ip: string): number {
    const now = this.#now();
    this.#prune(now);
    const track = this.#byIp.get(ip) ?? { failures: [], lockedUntil: 0 };
    track.failures = track.failures.filter((t) => now - t < this.#policy.windowMs);
    track.failures.push(now);
    this.#byIp.delete(ip); // re-insert: the map's order is least recently failed first
    this.#byIp.set(ip, track);
    if (track.failures.length >= this.#policy.maxFailures) {
      track.lockedUntil = now + this.#policy.lockMs;
      track.failures = [];
      return track.lockedUntil;
    }
    return 0;
  }

  /** A successful login clears the address's failures. */
  recordSuccess(ip: string): void {
    const track = this.#byIp.get(ip);
    if (track && track.lockedUntil <= this.#now()) this.#byIp.delete(ip);
  }

  /**
   * Runs the password checks of one address one after another, so that attempts sent in
   * parallel cannot all pass the lock-out check before the fifth failure is counted.
   */
  exclusive<T>(ip: string, check: () => Promise<T>): Promise<T> {
    const before = this.#checking.get(ip) ?? Promise.resolve();
    const run = before.then(check, check);
    const tail = run.catch(() => {});
    this.#checking.set(ip, tail);
    tail.then(() => {
      if (this.#checking.get(ip) === tail) this.#checking.delete(ip);
    });
    return run;
  }

  get tracked(): number {
    return this.#byIp.size;
  }

  #prune(now: number): void {
    for (const [ip, track] of this.#byIp) {
      const stale = track.lockedUntil <= now &&
        track.failures.every((t) => now - t >= this.#policy.windowMs);
      if (stale) this.#byIp.delete(ip);
    }
    // Still too many: forget the least recently failing addresses.
    for (const ip of this.#byIp.keys()) {
      if (this.#byIp.size < MAX_TRACKED) break;
      this.#byIp.delete(ip);
    }
  }
}
