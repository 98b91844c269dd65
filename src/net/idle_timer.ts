/**
 * A connection's idle timeout (Connection.setIdleTimeout): `onIdle` after a stretch
 * without input. Input only records its time, and no timer is set per connection: one
 * sweep every SWEEP_MS checks every running IdleTimer. A timer of its own cost each
 * connection a setTimeout and a clearTimeout (about 5 µs of a 200 µs SMTP connection,
 * measured with smtp-source, docs/performance.md) for a timeout that almost never fires;
 * the sweep makes the wait at most SWEEP_MS longer than asked, never shorter.
 */

/** How often the running timers are checked: the most a timeout fires late. */
export const SWEEP_MS = 500;

const running = new Set<IdleTimer>();
let sweeper: ReturnType<typeof setTimeout> | null = null;

function sweep(): void {
  sweeper = null;
  const now = Date.now();
  for (const timer of running) timer.check(now);
  if (running.size > 0) armSweep();
}

function armSweep(): void {
  if (sweeper !== null) return;
  sweeper = setTimeout(sweep, SWEEP_MS);
  // The connections keep the process alive, not their timeouts.
  Deno.unrefTimer(sweeper as unknown as number);
}

/** Stops the sweep once no timer runs (so that a test that closed its sessions ends clean). */
function disarmIfUnused(): void {
  if (running.size > 0 || sweeper === null) return;
  clearTimeout(sweeper);
  sweeper = null;
}

export class IdleTimer {
  #ms = 0;
  /**
   * Date.now() of the last input or reply written (or of start()): time the server spent
   * on a command (a LOGIN's scrypt) is not the client's.
   */
  #last = 0;
  #onIdle: (() => void) | null = null;

  /** `closed`: the connection is gone, nothing is called any more. */
  constructor(readonly closed: () => boolean) {}

  /** Calls `onIdle` after `seconds` without input (0: never). */
  start(seconds: number, onIdle: () => void): void {
    this.#ms = seconds * 1000;
    this.#onIdle = onIdle;
    this.#last = Date.now();
    if (this.#ms > 0) this.#run();
    else this.stop();
  }

  /** A reply taken by a client that reads them: the wait starts again. */
  touch(): void {
    this.#last = Date.now();
  }

  /** Input came: the wait starts again, also after an onIdle that kept the session open. */
  input(): void {
    this.#last = Date.now();
    if (this.#ms > 0 && !running.has(this)) this.#run();
  }

  stop(): void {
    if (running.delete(this)) disarmIfUnused();
  }

  /** Called by the sweep: fires once the wait is over (then stops until input or start()). */
  check(now: number): void {
    if (this.closed()) {
      running.delete(this);
      return;
    }
    if (now - this.#last < this.#ms) return;
    running.delete(this);
    this.#onIdle?.();
  }

  #run(): void {
    if (this.closed()) return;
    running.add(this);
    armSweep();
  }
}
