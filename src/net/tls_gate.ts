/**
 * Implicit-TLS handshakes (IMAPS, POP3S, SMTPS) admitted a few at a time (SPEC §7: one
 * client never stalls the others). Starting a server-side handshake (node:tls TLSSocket
 * over the accepted socket) costs about a millisecond of the event loop each, so a burst
 * of connections that open a handshake and never finish it (1,000 from one address in a
 * second) would hold every other session's reply for as long as they take to set up:
 *
 * - per source (an IPv4 address, an IPv6 /64: source.ts), at most PER_SOURCE handshakes
 *   run at once; more wait their turn (at most WAITING_PER_SOURCE, each at most
 *   MAX_WAIT_MS), and past that a connection is closed at once, before any TLS work;
 * - handshakes are started in paced turns of the event loop: each turn starts them for at
 *   most TURN_BUDGET_MS and then lets every other session's I/O run.
 *
 * A client from another address never waits for an attacker's handshakes; one from the
 * same address waits at most MAX_WAIT_MS. The gate only orders the starts: the caller's
 * `start` wraps the socket and resolves once its handshake is over (done, failed or cut
 * by its own timeout), which gives the source's slot to the next.
 */

export interface GateLimits {
  perSource: number;
  waitingPerSource: number;
  maxWaitMs: number;
  turnBudgetMs: number;
}

export const GATE_LIMITS: Readonly<GateLimits> = Object.freeze({
  perSource: 16,
  waitingPerSource: 64,
  maxWaitMs: 10_000,
  turnBudgetMs: 2,
});

/** One connection waiting for its handshake to start. */
interface Waiter {
  source: string;
  /** Wraps the socket; resolves when the handshake is over. */
  start: () => Promise<void>;
  /** Closes the connection without a handshake. */
  drop: () => void;
  /** False once the client went away while it waited. */
  alive: () => boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

interface Source {
  /** Handshakes started (or about to be) and not over. */
  running: number;
  waiting: Waiter[];
}

export class HandshakeGate {
  readonly #limits: GateLimits;
  readonly #sources = new Map<string, Source>();
  /** Admitted, to be started in the next turns. */
  #ready: Waiter[] = [];
  #scheduled = false;

  constructor(limits: Partial<GateLimits> = {}) {
    this.#limits = { ...GATE_LIMITS, ...limits };
  }

  /** Handshakes running or admitted for a source, and how many wait (tests, logs). */
  stateOf(source: string): { running: number; waiting: number } {
    const s = this.#sources.get(source);
    return { running: s?.running ?? 0, waiting: s?.waiting.length ?? 0 };
  }

  /** Starts the handshake now, later, or never (`drop`). */
  admit(
    source: string,
    start: () => Promise<void>,
    drop: () => void,
    alive: () => boolean,
  ): void {
    let s = this.#sources.get(source);
    if (!s) this.#sources.set(source, s = { running: 0, waiting: [] });
    const w: Waiter = { source, start, drop, alive, timer: null };
    if (s.running < this.#limits.perSource) {
      s.running++;
      this.#ready.push(w);
      this.#schedule();
      return;
    }
    if (s.waiting.length >= this.#limits.waitingPerSource) {
      this.#forget(s, source);
      drop();
      return;
    }
    w.timer = setTimeout(() => {
      const i = s.waiting.indexOf(w);
      if (i >= 0) s.waiting.splice(i, 1);
      this.#forget(s, source);
      drop();
    }, this.#limits.maxWaitMs);
    s.waiting.push(w);
  }

  #schedule(): void {
    if (this.#scheduled || this.#ready.length === 0) return;
    this.#scheduled = true;
    setTimeout(() => this.#turn(), 0);
  }

  /** Starts handshakes for at most the turn's budget, then yields to other I/O. */
  #turn(): void {
    this.#scheduled = false;
    const until = performance.now() + this.#limits.turnBudgetMs;
    // At least one per turn, then more while the budget lasts.
    for (let first = true; this.#ready.length > 0; first = false) {
      if (!first && performance.now() >= until) break;
      const w = this.#ready.shift()!;
      if (!w.alive()) {
        this.#release(w.source);
        continue;
      }
      let over: Promise<void>;
      try {
        over = w.start();
      } catch {
        over = Promise.resolve();
      }
      over.catch(() => {}).finally(() => this.#release(w.source));
    }
    this.#schedule();
  }

  /** A handshake of `source` is over: its slot goes to the next one waiting, if any. */
  #release(source: string): void {
    const s = this.#sources.get(source);
    if (!s) return;
    s.running--;
    while (s.waiting.length > 0) {
      const next = s.waiting.shift()!;
      if (next.timer !== null) clearTimeout(next.timer);
      if (!next.alive()) {
        next.drop();
        continue;
      }
      s.running++;
      this.#ready.push(next);
      this.#schedule();
      break;
    }
    this.#forget(s, source);
  }

  #forget(s: Source, source: string): void {
    if (s.running <= 0 && s.waiting.length === 0) this.#sources.delete(source);
  }
}
