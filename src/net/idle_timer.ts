/**
 * A connection's idle timeout (Connection.setIdleTimeout): `onIdle` after a stretch
 * without input. Input only records its time: the one timer, when it fires early, waits
 * again for the rest, instead of a clearTimeout and setTimeout per chunk received
 * (measured at a few percent of a POP3 RETR's cost).
 */
export class IdleTimer {
  #timer: ReturnType<typeof setTimeout> | null = null;
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
    this.#arm(this.#ms);
  }

  /** A reply taken by a client that reads them: the wait starts again. */
  touch(): void {
    this.#last = Date.now();
  }

  /** Input came: the wait starts again, also after an onIdle that kept the session open. */
  input(): void {
    this.#last = Date.now();
    if (this.#timer === null && this.#ms > 0) this.#arm(this.#ms);
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.stop();
    if (this.#ms <= 0 || this.closed()) return;
    this.#timer = setTimeout(this.#check, ms);
  }

  #check = (): void => {
    this.#timer = null;
    if (this.#ms <= 0 || this.closed()) return;
    const quiet = Date.now() - this.#last;
    if (quiet >= this.#ms) this.#onIdle?.();
    else this.#arm(this.#ms - quiet);
  };
}
