/**
 * ThreadsSMTP (SPEC §3) in this runtime: there are no SMTP worker threads to size (all
 * sessions share one event loop; file I/O runs on Deno's blocking pool), so it is the
 * number of delivery workers, each delivering a batch of received messages (written and
 * fsync'd) at a time. A message that finds every worker busy waits; when a worker
 * finishes its batch it takes every message waiting then, together, as its next batch.
 * So at most ThreadsSMTP batches are in flight, and under load a batch grows with the
 * load: its messages' fsyncs overlap and their directory fsyncs are shared (group
 * commit, fsutil.syncDir), where one message per worker would leave the fourth client
 * waiting on three fsyncs in a row (at 16 connections its 250 came 1.8x later than
 * Postfix's). Sessions stay open meanwhile; their clients simply wait for the 250.
 */
import type { ServerContext } from "../server/context.ts";

/** The messages a worker delivers together; the worker is free when none is left. */
interface Batch {
  left: number;
}

export class DeliverySlots {
  #active = 0;
  #waiting: ((batch: Batch) => void)[] = [];

  constructor(readonly limit: () => number) {}

  /** Workers delivering a batch. */
  get active(): number {
    return this.#active;
  }

  /** Messages waiting for a worker. */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    let batch: Batch;
    if (this.#active < Math.max(1, this.limit())) {
      this.#active++;
      batch = { left: 1 };
    } else batch = await new Promise<Batch>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      if (--batch.left === 0) this.#next();
    }
  }

  /** A worker is free: everything waiting is its next batch, in arrival order. */
  #next(): void {
    const waiting = this.#waiting;
    if (waiting.length === 0) {
      this.#active--;
      return;
    }
    this.#waiting = [];
    const batch: Batch = { left: waiting.length };
    for (const start of waiting) start(batch);
  }
}

const slots = new WeakMap<ServerContext, DeliverySlots>();

/** The daemon's delivery workers (one set per running server). */
export function deliverySlots(ctx: ServerContext): DeliverySlots {
  let s = slots.get(ctx);
  if (!s) slots.set(ctx, s = new DeliverySlots(() => ctx.config.ThreadsSMTP));
  return s;
}
