/**
 * Failed admin logins per client address (SPEC §4): 5 failures within 10 minutes lock
 * the address (an IPv6 client: its /64) out for 10 minutes, during which even the right
 * password is refused. The mechanism is the mail services' (src/auth/failure_window.ts);
 * only the policy and "a success clears the count" are the admin port's own.
 */
import { FailureWindow, type LockoutPolicy } from "../auth/failure_window.ts";

export type { LockoutPolicy };

export const DEFAULT_POLICY: LockoutPolicy = {
  maxFailures: 5,
  windowMs: 10 * 60_000,
  lockMs: 10 * 60_000,
};

export class LoginGuard extends FailureWindow {
  constructor(policy: LockoutPolicy = DEFAULT_POLICY, now: () => number = Date.now) {
    super(policy, now);
  }

  /** A successful login clears the address's failures (a running lock stays). */
  recordSuccess(ip: string): void {
    this.clear(ip);
  }
}
