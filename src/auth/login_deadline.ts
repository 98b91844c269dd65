/**
 * TimeoutLogin (SPEC §3, §7): POP3, IMAP and submission sessions that have not
 * authenticated within this many seconds of connecting are closed, so an idle or
 * slow-dripping client cannot hold a connection slot for the whole idle timeout.
 */

export interface LoginDeadline {
  /** Stops the timer (the session ended). */
  cancel(): void;
}

/** While a command is running (a login being checked), the deadline waits this long again. */
const BUSY_RECHECK_MS = 1000;

/**
 * Calls `expire` `seconds` after now unless `authenticated()` is true by then. A
 * session busy with a command (`busy()`, e.g. the password check of a LOGIN sent in
 * time) gets it finished first.
 */
export function startLoginDeadline(
  seconds: number,
  session: { authenticated(): boolean; busy(): boolean; expire(): void },
): LoginDeadline {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const check = () => {
    timer = null;
    if (session.authenticated()) return;
    if (session.busy()) timer = setTimeout(check, BUSY_RECHECK_MS);
    else session.expire();
  };
  timer = setTimeout(check, seconds * 1000);
  return {
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
