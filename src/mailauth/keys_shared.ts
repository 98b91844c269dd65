/**
 * DKIM keys kept in a shared directory (SPEC §12: PostgreSQL), so every node signs with
 * the same keys: a key added on one node signs on all of them once the change reaches
 * them (within a second). The keys live in the directory's `dkim_keys` table, readable
 * only with the database's credentials; each node holds them in memory for signing and
 * follows the directory's changes (`dkim.add`, `dkim.del`) and re-reads like the
 * directory's own mirror does.
 */
import type { ChangeListener, DirectoryBackend } from "../directory/changes.ts";
import {
  checkSelector,
  type DkimKey,
  type DkimKeyStore,
  type DkimKeyType,
  generatePrivateKey,
  KeyTable,
  selectorTaken,
} from "./keys.ts";

export class SharedKeyStore implements DkimKeyStore {
  readonly #backend: DirectoryBackend;
  readonly #keys = new KeyTable();

  constructor(backend: DirectoryBackend) {
    this.#backend = backend;
    for (const key of backend.initial.dkim) this.#keys.put(key);
    const listener: ChangeListener = {
      applied: (change) => {
        if (change.op === "dkim.add") this.#keys.put(change.key);
        if (change.op === "dkim.del") this.#keys.remove(change.domain, change.selector);
      },
      reloaded: (content) => {
        this.#keys.clear();
        for (const key of content.dkim) this.#keys.put(key);
      },
    };
    backend.listen(listener);
  }

  list(domain?: string): DkimKey[] {
    return this.#keys.list(domain);
  }

  active(domain: string): DkimKey | undefined {
    return this.#keys.active(domain);
  }

  async add(
    domain: string,
    selector: string,
    type: DkimKeyType,
    now = Date.now(),
  ): Promise<DkimKey> {
    const s = checkSelector(selector);
    if (this.#keys.has(domain, s)) throw selectorTaken(domain, s);
    const privateKey = await generatePrivateKey(type);
    const key: DkimKey = { domain, selector: s, type, created: now, privateKey };
    await this.#backend.commit(() => {
      // Another node may have taken the selector while the key was generated.
      if (this.#keys.has(domain, s)) throw selectorTaken(domain, s);
      return { op: "dkim.add", key };
    });
    return key;
  }

  async remove(domain: string, selector: string): Promise<boolean> {
    const s = selector.toLowerCase();
    const change = await this.#backend.commit(() =>
      this.#keys.has(domain, s) ? { op: "dkim.del", domain, selector: s } : null
    );
    return change !== null;
  }
}
