/**
 * Bulk input (a message streaming in with SMTP DATA or BDAT, a large IMAP literal) is read from a few
 * connections at a time, in rounds that let the event loop poll every socket between
 * them (SPEC §7: no client can stall the others; memory stays bounded).
 *
 * Why: Deno's loop hands input over from the sockets that have it, pass after pass, and
 * polls the kernel for the others (epoll) only when none has any left. With 100 clients
 * each streaming a 25 MiB message some socket always had input: the loop polled every
 * 100-400 ms (strace: 13 MiB read between two polls), and an idle session's NOOP, in
 * the kernel at once (tcpdump), reached its 'data' handler that much later, all five
 * probes of bench hostile together, though no stretch of JavaScript took more than
 * 86 ms and no probe waited in net/turns.ts. Each transfer that reads also holds its
 * buffers, so the number reading at once is what the memory peak grows with.
 *
 * So a transfer reads only while it holds one of the slots; the others keep their
 * sockets paused (TCP flow control holds their clients; nothing more is read or
 * buffered) and wait in order. A holder hands its slot on after holdMs when others
 * wait, so every transfer goes on; one whose input runs dry for idleMs while others
 * wait loses it (a slow or stalled client, slowloris, holds none for nothing: it waits
 * for its input without one, then queues). And after roundMs of bulk work that took at
 * least roundBytes of input every transfer pauses until a timer runs (breather()): the
 * loop, with no input left to hand over, polls the kernel and idle sessions are answered.
 * Rounds of less input than that (small messages, one connection each: smtp-source)
 * never kept the loop from polling, and pausing them only held their replies: every
 * 20 ms one message's transfer, and any others under way, waited for a timer, about a
 * tenth of the messages at 4 sessions (docs/performance.md).
 */

import { nextTurn, turnSpent } from "./turns.ts";

/** Transfers that read at once (the event loop is one per process, so are the slots). */
export const BULK_SLOTS = 8;

export interface BulkTiming {
  /**
   * A holder hands its slot to the next after this long, when others wait: longer than
   * a 25 MiB message takes with 8 at once, so fast transfers finish in order (the others'
   * buffers are not even started) and slow ones take turns.
   */
  holdMs: number;
  /** A holder waiting this long for input loses its slot, when others wait. */
  idleMs: number;
  /** Bulk work between two pauses that let the loop poll its sockets (breather()). */
  roundMs: number;
  /**
   * Input a round must have taken for it to end in a pause (0 or absent: any); a round
   * of less starts over without one.
   */
  roundBytes?: number;
}

export const BULK_TIMING: BulkTiming = {
  holdMs: 2000,
  idleMs: 20,
  roundMs: 20,
  // 25 MiB/s: eight 64 KiB reads per round. 100 clients streaming 25 MiB messages hand
  // over much more (bench hostile); 16 smtp-source sessions of 4 KiB messages ~160 KiB.
  roundBytes: 512 * 1024,
};

/** What a transfer uses of its connection (tests give stand-ins). */
export interface BulkConnection {
  /** Stops reading the socket until the next wait for input resumes it. */
  pauseInput(): void;
  /** Resumes reading and waits for more input; false at end of input. */
  waitForInput(): Promise<boolean>;
  /** Octets received and not yet read: what a slice about to be read takes (roundBytes). */
  readonly bufferedInput?: number;
  /** Set while a transfer holds a slot: the connection buffers up to its stream mark. */
  streaming?: boolean;
}

export class BulkSlots {
  #free: number;
  #queue: (() => void)[] = [];
  /** Holders waiting for input, with the time they began to (for idleMs). */
  #idle = new Map<BulkTransfer, number>();
  #sweep: ReturnType<typeof setTimeout> | null = null;
  /** performance.now() when this round of bulk work began (its first ask). */
  #roundStart = -1;
  /** Input taken in this round (the buffered input at each ask). */
  #roundBytes = 0;
  /** Set during a pause: resolves when it is over. */
  #pause: Promise<void> | null = null;

  constructor(readonly size: number, readonly timing: BulkTiming = BULK_TIMING) {
    this.#free = size;
  }

  /** Transfers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Null when a slot was free (now taken), else resolves once one is handed over. */
  take(): Promise<void> | null {
    if (this.#free > 0 && this.#queue.length === 0) {
      this.#free--;
      return null;
    }
    const turn = new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#armSweep();
    return turn;
  }

  /** A slot comes back: to the first one waiting, else free. */
  give(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }

  /**
   * Null while bulk work may go on; else a pause to await with input paused. After
   * roundMs of bulk work that took roundBytes of input or more, every transfer stops
   * reading until a timer runs: with no socket left that has input to hand over, the
   * loop goes idle, polls every socket, and an idle session's command is seen. (Deno
   * hands input over from the sockets that keep having it, pass after pass, and polls
   * the others only when none has: with holders reading without a pause the NOOP still
   * waited 100-200 ms.) `bytes`: the input about to be read.
   */
  breather(bytes = 0): Promise<void> | null {
    if (this.#pause) return this.#pause;
    const now = performance.now();
    if (this.#roundStart < 0) {
      this.#roundStart = now;
      this.#roundBytes = 0;
    }
    this.#roundBytes += bytes;
    if (now - this.#roundStart < this.timing.roundMs) return null;
    if (this.#roundBytes < (this.timing.roundBytes ?? 0)) {
      // Little input: the loop was not kept from polling. A new round, no pause.
      this.#roundStart = now;
      this.#roundBytes = 0;
      return null;
    }
    this.#pause = new Promise<void>((resolve) =>
      setTimeout(() => {
        this.#pause = null;
        this.#roundStart = -1;
        resolve();
      }, 1)
    );
    return this.#pause;
  }

  idle(holder: BulkTransfer): void {
    this.#idle.set(holder, performance.now());
    this.#armSweep();
  }

  busy(holder: BulkTransfer): void {
    this.#idle.delete(holder);
  }

  /** While some wait and some holders are idle, holders idle for idleMs lose their slots. */
  #armSweep(): void {
    if (this.#sweep !== null || this.#queue.length === 0 || this.#idle.size === 0) return;
    const idleMs = this.timing.idleMs;
    this.#sweep = setTimeout(() => {
      this.#sweep = null;
      const now = performance.now();
      for (const [holder, since] of this.#idle) {
        if (this.#queue.length === 0) break;
        if (now - since >= idleMs) holder.release();
      }
      this.#armSweep();
    }, idleMs);
  }
}

/** One message transfer's part: ready() before each slice, its waits for input, release(). */
export class BulkTransfer {
  #held = false;
  #since = 0;

  constructor(readonly slots: BulkSlots, readonly conn: BulkConnection) {}

  /**
   * Before each slice of input: null when this transfer may go on at once, else a promise
   * to await (the socket paused meanwhile) for the end of a pause (breather()) and for a
   * slot. A holder that had its slot for holdMs with others waiting hands it on and
   * queues again.
   */
  ready(): Promise<void> | null {
    const pause = this.slots.breather(this.conn.bufferedInput ?? BULK_PIECE);
    if (pause) {
      this.conn.pauseInput();
      return pause.then(() => this.ready() ?? undefined);
    }
    if (this.#held) {
      const held = performance.now() - this.#since;
      if (this.slots.waiting === 0 || held < this.slots.timing.holdMs) return null;
      this.release();
    }
    const turn = this.slots.take();
    if (turn === null) {
      this.#hold();
      return null;
    }
    this.conn.pauseInput();
    return turn.then(() => this.#hold());
  }

  /**
   * Waits for more input holding a slot (queued for one first, the socket paused: only
   * holders read), idle meanwhile: a holder whose input does not come may lose its slot,
   * and then its socket alone reads without one until input comes.
   */
  async waitForInput(): Promise<boolean> {
    const turn = this.ready();
    if (turn) await turn;
    if (this.#held) this.slots.idle(this);
    try {
      return await this.conn.waitForInput();
    } finally {
      this.slots.busy(this);
    }
  }

  /** Gives the slot back, if held: at the end of the transfer, or when it must go on. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.conn.streaming !== undefined) this.conn.streaming = false;
    this.slots.busy(this);
    this.slots.give();
  }

  #hold(): void {
    this.#held = true;
    if (this.conn.streaming !== undefined) this.conn.streaming = true;
    this.#since = performance.now();
  }
}

/** Runs `feed` as one transfer on `conn`: its slot, if it took one, is given back at the end. */
export async function asTransfer<T>(
  slots: BulkSlots,
  conn: BulkConnection,
  feed: (bulk: BulkTransfer) => Promise<T>,
): Promise<T> {
  const bulk = new BulkTransfer(slots, conn);
  try {
    return await feed(bulk);
  } finally {
    bulk.release();
  }
}

/** Before a slice of bulk input: a slot, then room in this turn of the loop (net/turns.ts). */
export async function pace(bulk: BulkTransfer): Promise<void> {
  const slot = bulk.ready();
  if (slot) await slot;
  if (turnSpent()) await nextTurn();
}

/** What readBulk uses of a connection (tests give stand-ins). */
export interface BulkInput extends BulkConnection {
  peekInput(): Uint8Array;
  consumeInput(n: number): void;
  readonly bufferedInput: number;
}

/** The most readBulk hands over at once (the connection's read buffer holds about as much). */
export const BULK_PIECE = 64 * 1024;

/**
 * Reads exactly `n` octets of bulk input (an IMAP literal) as one transfer on `slots`, in
 * pieces of at most BULK_PIECE. `take` gets each piece as a view into the connection's
 * buffer, which moves as input comes: valid until `take` returns or first awaits, so it
 * copies what it keeps. Its promise, if any, is awaited before more is read. False at EOF.
 */
export async function readBulk(
  conn: BulkInput,
  n: number,
  take: (piece: Uint8Array) => void | Promise<void>,
  slots: BulkSlots = messageSlots,
): Promise<boolean> {
  return await asTransfer(slots, conn, async (bulk) => {
    for (let left = n; left > 0;) {
      if (conn.bufferedInput > 0) await pace(bulk);
      const view = conn.peekInput();
      if (view.length === 0) {
        if (!(await bulk.waitForInput())) return false;
        continue;
      }
      const k = Math.min(view.length, left, BULK_PIECE);
      const taken = take(view.subarray(0, k));
      conn.consumeInput(k);
      left -= k;
      if (taken) await taken;
    }
    return true;
  });
}

/** The process's slots for message transfers. */
export const messageSlots = new BulkSlots(BULK_SLOTS);
