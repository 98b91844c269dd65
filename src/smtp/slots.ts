/**
 * ThreadsSMTP (SPEC §3) in this runtime: there are no SMTP worker threads to size (all
 * sessions share one event loop; file I/O runs on Deno's blocking pool), so it bounds
 * how many received messages are being delivered (written and fsync'd) at the same
 * time. Further messages wait for a slot in arrival order; their sessions stay open
 * and their clients simply wait a little longer for the 250.
 */
import type { ServerContext } from "../server/context.ts";

export class DeliverySlots {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly limit: () => number) {}

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active < Math.max(1, this.limit())) this.#active++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // handed a slot
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes on; #active is unchanged
      else this.#active--;
    }
  }
}

const slots = new WeakMap<ServerContext, DeliverySlots>();

/** The daemon's delivery slots (one set per running server). */
export function deliverySlots(ctx: ServerContext): DeliverySlots {
  let s = slots.get(ctx);
  if (!s) slots.set(ctx, s = new DeliverySlots(() => ctx.config.ThreadsSMTP));
  return s;
}
