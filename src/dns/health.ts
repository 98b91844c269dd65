/**
 * Which resolvers answer. A DNSServer that does not exist costs each look-up its whole
 * time budget: UDP has no connection, and Deno's UDP sockets never report the ICMP "port
 * unreachable" that would end the wait at once. So a server that stays silent through
 * two look-ups in a row, the second asked after the first had given up on it, and that
 * answered nothing for twice the look-up's budget, is marked dead for a while: look-ups
 * skip it, and fail at once while every server is dead. The end of the mark makes it a
 * server like the others again (the next look-up asks it; silent again, it is marked at
 * once, as it never answered since).
 *
 * Why two look-ups: the first answer of a resolver that just started, or whose cache is
 * cold, can take longer than a whole budget (its own upstream queries); skipping it then
 * would skip DNS for DEAD_MS for one slow answer. Only a server asked again after it was
 * found silent, and silent again, is taken for dead; look-ups that ran beside the first
 * silent one (a burst at start-up) count as that one. Why the two budgets of silence: a
 * resolver that answers other questions may leave one unanswered (its authoritative
 * servers are down), or a datagram may be lost: that name times out, the resolver is not
 * dead.
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
  /** When a look-up first found the server silent (since its last answer). */
  #silentSince = new Map<string, number>();

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
    this.#silentSince.delete(key(s));
  }

  /**
   * `s` gave no answer to a look-up that began at `began` (this.now() time) with a budget
   * of `budgetMs`. True when this marks it dead: it was not, it answered nothing since
   * twice the budget ago, and this look-up began after an earlier one found it silent.
   */
  silent(s: NameServer, budgetMs: number, began: number): boolean {
    const now = this.now();
    const last = this.#lastAnswer.get(key(s));
    if (last !== undefined && last >= now - 2 * budgetMs) return false;
    const since = this.#silentSince.get(key(s));
    if (since === undefined) this.#silentSince.set(key(s), now);
    if (since === undefined || began < since) return false;
    const wasDead = this.deadUntil(s) !== null;
    this.#deadUntil.set(key(s), now + this.deadMs);
    return !wasDead;
  }
}
