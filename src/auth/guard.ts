/**
 * The authentication guard of SMTP AUTH, POP3 USER/PASS and AUTH, IMAP LOGIN and
 * AUTHENTICATE (SPEC §7): one instance per daemon, so the three protocols count together.
 *
 * - Per source (an address; IPv6: its /64): after 10 failed logins within 10 minutes,
 *   further attempts from it are refused for 10 minutes without a password check. The
 *   checks still running count as failures until they end, so parallel guesses cannot
 *   all pass before the tenth failure is known; parallel attempts beyond the limit wait
 *   for the running checks instead of being refused (they may be good logins). A success does not clear the count: a
 *   client with one valid account would otherwise reset it between guesses at others.
 * - Per account (the login name as typed, lower-cased, so that missing accounts behave
 *   exactly like existing ones): after 20 failed logins within 10 minutes, from any
 *   sources, the account is refused for 10 minutes to every source that has not logged
 *   in to it successfully within the last 30 days. A guesser spread over many addresses
 *   gets at most about 20 guesses per 10 minutes at one account, while its user keeps
 *   working from the places (home, office, phone network) it used before. The known
 *   sources live in memory (8 per account): after a restart a user's first login from
 *   anywhere is refused while an attack on that very account is going on.
 * - Timing: a missing account costs a dummy scrypt (Directory.authenticate), and every
 *   refusal, failed or throttled, is answered FAILURE_DELAY_MS after the attempt began
 *   (or when the check ends, if later), so answers do not tell accounts apart.
 */
import type { UserRecord } from "../directory/records.ts";
import { log } from "../log.ts";
import { sourceKey } from "../net/source.ts";
import { FailureWindow, type LockoutPolicy } from "./failure_window.ts";

const MINUTE = 60_000;
export const SOURCE_POLICY: LockoutPolicy = {
  maxFailures: 10,
  windowMs: 10 * MINUTE,
  lockMs: 10 * MINUTE,
};
export const ACCOUNT_POLICY: LockoutPolicy = {
  maxFailures: 20,
  windowMs: 10 * MINUTE,
  lockMs: 10 * MINUTE,
};
/** A refusal is answered this long after the attempt began (slows guessing, hides timing). */
export const FAILURE_DELAY_MS = 1000;
/** How long a successful login makes its source known to the account. */
const KNOWN_SOURCE_MS = 30 * 24 * 60 * MINUTE;
const KNOWN_SOURCES_PER_ACCOUNT = 8;
const MAX_ACCOUNTS_WITH_KNOWN_SOURCES = 10_000;

/** What the guard needs of the directory. */
export interface Authenticator {
  authenticate(login: string, password: string): Promise<UserRecord | undefined>;
}

export interface LoginAttempt {
  protocol: "smtp" | "pop3" | "imap";
  /** The client's address (Connection.remoteAddress). */
  ip: string;
  login: string;
  password: string;
  /** A check after the password (the SASL authzid): false makes the attempt a failure. */
  authorize?: (user: UserRecord) => boolean;
}

export type LoginResult =
  | { kind: "ok"; user: UserRecord }
  /** Wrong password, unknown login or refused authzid. */
  | { kind: "failed" }
  /** Refused without a password check (SMTP 454 4.7.0, POP3 [SYS/TEMP], IMAP [UNAVAILABLE]). */
  | { kind: "throttled" };

export interface GuardOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  failureDelayMs?: number;
  sourcePolicy?: LockoutPolicy;
  accountPolicy?: LockoutPolicy;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AuthGuard {
  readonly #directory: Authenticator;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #delayMs: number;
  readonly #bySource: FailureWindow;
  readonly #byAccount: FailureWindow;
  /** Account key -> source -> time of its last successful login (insertion order: LRU). */
  readonly #known = new Map<string, Map<string, number>>();
  readonly #log = log("auth");

  constructor(directory: Authenticator, options: GuardOptions = {}) {
    this.#directory = directory;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? realSleep;
    this.#delayMs = options.failureDelayMs ?? FAILURE_DELAY_MS;
    this.#bySource = new FailureWindow(options.sourcePolicy ?? SOURCE_POLICY, this.#now);
    this.#byAccount = new FailureWindow(options.accountPolicy ?? ACCOUNT_POLICY, this.#now);
  }

  /** Checks one login attempt under the rules above; failures resolve after the delay. */
  async login(attempt: LoginAttempt): Promise<LoginResult> {
    const started = this.#now();
    const source = sourceKey(attempt.ip);
    const account = accountKey(attempt.login);
    const known = this.#isKnown(account, source);
    if (!(await this.#bySource.begin(source))) return await this.#refuse(started, "throttled");
    const reserved = !known && await this.#byAccount.begin(account);
    if (!known && !reserved) {
      this.#bySource.finish(source, false);
      return await this.#refuse(started, "throttled");
    }
    let user: UserRecord | undefined;
    try {
      user = await this.#directory.authenticate(attempt.login, attempt.password);
      if (user && attempt.authorize && !attempt.authorize(user)) user = undefined;
    } finally {
      this.#finish(source, account, reserved, !user, attempt.protocol);
    }
    if (!user) return await this.#refuse(started, "failed");
    this.#remember(account, source);
    return { kind: "ok", user };
  }

  /** Whether attempts from `ip` are refused now (tests, the admin's view). */
  sourceLocked(ip: string): boolean {
    return this.#bySource.lockedUntil(sourceKey(ip)) > 0;
  }

  #finish(source: string, account: string, reserved: boolean, failed: boolean, protocol: string) {
    const sourceLock = this.#bySource.finish(source, failed);
    if (sourceLock) {
      this.#log.warn(
        `${source}: ${SOURCE_POLICY.maxFailures} failed logins within 10 minutes (last: ${protocol}); ` +
          `SMTP, POP3 and IMAP logins from it are refused until ${iso(sourceLock)}`,
      );
    }
    const accountLock = reserved
      ? this.#byAccount.finish(account, failed)
      : failed
      ? this.#byAccount.recordFailure(account)
      : 0;
    if (accountLock) {
      this.#log.warn(
        `login ${JSON.stringify(account.slice(0, 100))}: ${ACCOUNT_POLICY.maxFailures} failed ` +
          `logins within 10 minutes; refused from unknown sources until ${iso(accountLock)}`,
      );
    }
  }

  async #refuse(started: number, kind: "failed" | "throttled"): Promise<LoginResult> {
    const wait = started + this.#delayMs - this.#now();
    if (wait > 0) await this.#sleep(wait);
    return { kind };
  }

  #isKnown(account: string, source: string): boolean {
    const at = this.#known.get(account)?.get(source);
    return at !== undefined && this.#now() - at < KNOWN_SOURCE_MS;
  }

  #remember(account: string, source: string): void {
    let sources = this.#known.get(account);
    if (sources) this.#known.delete(account);
    else sources = new Map();
    this.#known.set(account, sources); // most recently used last
    sources.delete(source);
    sources.set(source, this.#now());
    for (const old of sources.keys()) {
      if (sources.size <= KNOWN_SOURCES_PER_ACCOUNT) break;
      sources.delete(old);
    }
    for (const old of this.#known.keys()) {
      if (this.#known.size <= MAX_ACCOUNTS_WITH_KNOWN_SOURCES) break;
      this.#known.delete(old);
    }
  }
}

/** The per-account key: the login as typed, trimmed and lower-cased, bounded in length. */
function accountKey(login: string): string {
  return login.trim().toLowerCase().slice(0, 320);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
