/**
 * Background services started with the daemon (the outbound queue runner, the DNS
 * cache). Each is added by its own issue; stop() waits for them to finish.
 */
import type { ServerContext } from "./context.ts";

export interface Background {
  stop(): Promise<void>;
}

type Starter = (ctx: ServerContext) => Background;
const starters: Starter[] = [];

/** Modules call this (at import) to be started with the daemon. */
export function registerBackground(start: Starter): void {
  starters.push(start);
}

export function startBackground(ctx: ServerContext): Background {
  const running = starters.map((s) => s(ctx));
  return { stop: () => Promise.all(running.map((r) => r.stop())).then(() => {}) };
}
