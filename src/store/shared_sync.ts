/**
 * Group commit: one sync shared by every caller of the moment, never a skipped one.
 * Every caller gets a sync that *started after* its call; callers that come while one
 * runs share the next. The directory fsyncs (fsutil.syncDir, by path), the syncfs(2) of
 * a device (libc_files.ts, by st_dev) and a journal segment's fdatasync
 * (delivery_journal.ts) are this one shape.
 *
 * A group is started with the argument of its first caller (the syncfs side passes a
 * descriptor on the file system: that caller keeps it open until its sync is done, so
 * the descriptor outlives the call made with it). With `gatherMs`, a group starts that
 * long after its first caller came (or when the sync before it ends, if later): for
 * syncs nobody is answered on (background work), fewer and larger ones. With
 * `atTurnEnd`, a group that would start at once starts when the event loop's current
 * turn has run its callbacks (setImmediate): callers of the same turn share it.
 */
import { setImmediate } from "node:timers";

interface Group<A> {
  arg: A;
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** Waiting for its gathering time (gatherMs) to pass. */
  gathering: boolean;
}

export class SharedSync<A = void> {
  readonly #run: (arg: A) => Promise<void>;
  readonly #gatherMs: number;
  readonly #atTurnEnd: boolean;
  readonly #onIdle: (() => void) | null;
  #running: Promise<void> | null = null;
  #next: Group<A> | null = null;

  /**
   * `run` is the sync itself; `onIdle` is called when the last group is done and none
   * waits (SharedSyncs forgets the key then).
   */
  constructor(
    run: (arg: A) => Promise<void>,
    opts: { gatherMs?: number; atTurnEnd?: boolean; onIdle?: () => void } = {},
  ) {
    this.#run = run;
    this.#gatherMs = opts.gatherMs ?? 0;
    this.#atTurnEnd = opts.atTurnEnd ?? false;
    this.#onIdle = opts.onIdle ?? null;
  }

  /** Resolves (or rejects) with a sync that started after this call. */
  request(arg: A): Promise<void> {
    if (this.#next) return this.#next.promise;
    let resolve!: () => void, reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const group: Group<A> = { arg, promise, resolve, reject, gathering: this.#gatherMs > 0 };
    this.#next = group;
    if (this.#gatherMs > 0) {
      setTimeout(() => {
        group.gathering = false;
        this.#startNext();
      }, this.#gatherMs);
    } else if (this.#atTurnEnd && !this.#running) {
      // Nothing runs: the group would start now with this one caller. Sessions whose
      // input came in the same turn (one message per connection: the clients move in
      // step, their "." arrive together) reach here a few promise hops later, within
      // the turn; starting at its end gives them this sync instead of the next one.
      group.gathering = true;
      setImmediate(() => {
        group.gathering = false;
        this.#startNext();
      });
    } else this.#startNext();
    return promise;
  }

  /** No sync running and none waiting. */
  get idle(): boolean {
    return this.#running === null && this.#next === null;
  }

  /** Resolves once every sync requested so far is done (failed ones included). */
  async settled(): Promise<void> {
    while (!this.idle) await (this.#running ?? this.#next?.promise)?.catch(() => {});
  }

  #startNext(): void {
    const group = this.#next;
    if (!group || group.gathering || this.#running) return;
    this.#next = null;
    this.#running = this.#run(group.arg).then(group.resolve, group.reject).finally(() => {
      this.#running = null;
      this.#startNext();
      if (this.idle) this.#onIdle?.();
    });
  }
}

/** SharedSync per key (a path, a device), kept only while a sync of that key is wanted. */
export class SharedSyncs<K, A = void> {
  readonly #byKey = new Map<K, SharedSync<A>>();
  readonly #run: (key: K, arg: A) => Promise<void>;
  readonly #gatherMs: number;

  constructor(run: (key: K, arg: A) => Promise<void>, opts: { gatherMs?: number } = {}) {
    this.#run = run;
    this.#gatherMs = opts.gatherMs ?? 0;
  }

  /** A sync of `key` that starts after this call, run with `arg` when this call starts it. */
  request(key: K, arg: A): Promise<void> {
    let s = this.#byKey.get(key);
    if (!s) {
      const made: SharedSync<A> = new SharedSync<A>((a) => this.#run(key, a), {
        gatherMs: this.#gatherMs,
        onIdle: () => {
          if (this.#byKey.get(key) === made) this.#byKey.delete(key);
        },
      });
      this.#byKey.set(key, s = made);
    }
    return s.request(arg);
  }

  /** Keys with a sync running or waiting (tests). */
  get size(): number {
    return this.#byKey.size;
  }
}
