/**
 * Which resolvers answer. A DNSServer that does not exist costs each look-up its whole
 * time budget: UDP has no connection, and Deno's UDP sockets never report the ICMP "port
 * unreachable" that would end the wait at once. So a server that a look-up asked and got
 * nothing from, and that answered nothing for twice the look-up's budget, is marked dead
 * for a while: look-ups skip it, and fail at once while every server is dead. The end of
 * the mark makes it a server like the others again (the next look-up asks it).
 *
 * Why the two budgets of silence: a resolver that answers other questions may leave one
 * unanswered (its authoritative servers are down), and a datagram may be lost: that name
 * times out or is retried, the resolver is not dead.
 */
import type { NameServer } from "./transport.ts";

/** How long a dead server is skipped before it is asked again. */
export const DEAD_MS = 30_000;

function key(s: NameServer): string {
  return `${s.ip}:${s.port}`;
}

export class ServerHealth {
  #lastAnswer = new Map<string, number>();
  #deadUntil = new Map<string, number>();

  constructor(readonly deadMs = DEAD_MS, readonly now: () => number = Date.now) {}

  /** The time (ms since the epoch) until which `s` is skipped; null when it is not. */
  deadUntil(s: NameServer): number | null {
    const until = this.#deadUntil.get(key(s));
    return until !== undefined && this.now() < until ? until : null;
  }

  /** `s` answered (any answer, SERVFAIL too: it is there). */
  answered(s: NameServer): void {
    this.#lastAnswer.set(key(s), this.now());
    this.#deadUntil.delete(key(s));
  }

  /**
   * `s` gave no answer to a look-up that began `budgetMs` ago. True when this marks it
   * dead (it was not, and it answered nothing since twice that long ago).
   */
  silent(s: NameServer, budgetMs: number): boolean {
    const now = this.now();
    const last = this.#lastAnswer.get(key(s));
    if (last !== undefined && last >= now - 2 * budgetMs) return false;
    const wasDead = this.deadUntil(s) !== null;
    this.#deadUntil.set(key(s), now + this.deadMs);
    return !wasDead;
  }
}
