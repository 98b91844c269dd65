/**
 * A POP3 session's marks on its maildrop snapshot (RFC 1939 §5): messages marked deleted
 * by DELE (unmarked by RSET) and those retrieved by RETR, with the count and size STAT
 * reports. One class for both maildrops: Maildrop on the main thread and SnapshotMaildrop
 * on the second event loop (loop.ts), which hand the marks to each other.
 */
import { Pop3Error } from "./protocol.ts";

export class MessageMarks {
  /** Messages in the snapshot: numbered 1 to count. */
  readonly count: number;
  /** Message n's size as listed at login is `sizes[n - 1]`. */
  readonly sizes: Float64Array;
  /** 1 where message n - 1 is marked deleted. */
  readonly deleted: Uint8Array;
  /** 1 where message n - 1 was retrieved (it becomes \Seen at the session's end). */
  readonly retrieved: Uint8Array;
  #visibleCount = 0;
  #visibleSize = 0;

  constructor(
    sizes: Float64Array,
    deleted: Uint8Array = new Uint8Array(sizes.length),
    retrieved: Uint8Array = new Uint8Array(sizes.length),
  ) {
    this.count = sizes.length;
    this.sizes = sizes;
    this.deleted = deleted;
    this.retrieved = retrieved;
    this.#recount();
  }

  #recount(): void {
    this.#visibleCount = 0;
    this.#visibleSize = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.deleted[i]) continue;
      this.#visibleCount++;
      this.#visibleSize += this.sizes[i];
    }
  }

  /** Messages not marked deleted and their total size (STAT, RFC 1939 §5). */
  get visibleCount(): number {
    return this.#visibleCount;
  }

  get visibleSize(): number {
    return this.#visibleSize;
  }

  isDeleted(n: number): boolean {
    return this.deleted[n - 1] === 1;
  }

  /**
   * Checks that message n may be named: refuses numbers out of range or marked deleted
   * (Pop3Error); returns n.
   */
  check(n: number | null): number {
    if (n === null || n < 1 || n > this.count) {
      throw new Pop3Error(
        this.count === 0
          ? "no such message: the maildrop is empty"
          : `no such message: valid numbers are 1 to ${this.count}`,
      );
    }
    if (this.deleted[n - 1]) throw new Pop3Error(`message ${n} is marked deleted`);
    return n;
  }

  markDeleted(n: number): void {
    this.check(n);
    this.deleted[n - 1] = 1;
    this.#visibleCount--;
    this.#visibleSize -= this.sizes[n - 1];
  }

  /** RSET (RFC 1939 §5): unmark every message. */
  reset(): void {
    this.deleted.fill(0);
    this.#recount();
  }

  markRetrieved(n: number): void {
    this.retrieved[n - 1] = 1;
  }

  /** Takes over the marks made on the other thread (same snapshot, same length). */
  takeOver(deleted: Uint8Array, retrieved: Uint8Array): void {
    if (deleted.length !== this.count || retrieved.length !== this.count) return;
    this.deleted.set(deleted);
    this.retrieved.set(retrieved);
    this.#recount();
  }
}
