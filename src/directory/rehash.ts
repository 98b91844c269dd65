/**
 * Re-hashing older password hashes after a successful login (SPEC §7: new parameters for
 * every account as its user logs in). One at a time and after the login was answered:
 * the scrypt runs on the thread pool, then the directory writes one small durable
 * transaction. Failures leave the old hash, which still verifies; the next login retries.
 */
import { log } from "../log.ts";
import { rehashPassword } from "./password.ts";

export class Rehasher {
  #queue: Promise<void> = Promise.resolve();
  readonly #busy = new Set<string>();

  /**
   * Queues a new hash of `password` for `key`; `store(hash)` writes it (and decides
   * whether it still applies: the password may have changed meanwhile).
   */
  schedule(key: string, password: string, store: (hash: string) => Promise<void>): void {
    if (this.#busy.has(key)) return;
    this.#busy.add(key);
    this.#queue = this.#queue.then(async () => {
      try {
        await store(await rehashPassword(password));
      } catch (e) {
        log("directory").warn(`re-hashing the password of ${key} failed: ${e}`);
      } finally {
        this.#busy.delete(key);
      }
    });
  }

  /** Resolves when the re-hashes queued so far are done (tests, shutdown). */
  settled(): Promise<void> {
    return this.#queue;
  }
}
