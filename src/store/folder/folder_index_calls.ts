/**
 * What a folder keeps in its index for the layers above (index_link.ts): the parsed
 * structures of msgcache.ts and the SORT/THREAD keys of src/imap/message_keys.ts, by base
 * name. Folder (folder.ts) extends it.
 */
import type { CacheRow } from "./index_caches.ts";
import type { IndexLink } from "./index_link.ts";

export class FolderIndexCalls {
  readonly #index: IndexLink;

  constructor(index: IndexLink) {
    this.#index = index;
  }

  // ---- the parsed-structure cache (msgcache.ts) --------------------------------

  cacheGet(base: string): CacheRow | undefined {
    return this.#index.cacheGet(base);
  }

  /**
   * Remembers parse results of a message in the index, written in batches: `row` is
   * called when the batch is written, so several updates cost one serialization.
   */
  cachePut(base: string, row: () => CacheRow): void {
    this.#index.cachePut(base, row);
  }

  // ---- SORT / THREAD keys (src/imap/message_keys.ts), opaque text per base name ----

  /** Stored key texts a page at a time, by UID after `after` (IndexLink.keysByUid). */
  keysByUid(after: number, limit: number): { rows: [number, string][]; done: boolean } {
    return this.#index.keysByUid(after, limit);
  }

  /**
   * One field (a JSON path such as "$[3]") of the stored key texts that start with
   * `prefix` (one version), as [uid, JSON text] in UID order, for the messages after UID
   * `after`, at most `limit` (a page); null without an index.
   */
  keysField(prefix: string, path: string, after: number, limit: number): unknown[][] | null {
    return this.#index.keysField(prefix, path, after, limit);
  }

  /**
   * UIDs from `from` on whose key text is not stored (or not in the version `prefix`
   * starts), in UID order, at most `limit` (a page); null without an index (ask each
   * message then).
   */
  keysMissing(from: number, prefix: string, limit: number): Uint32Array | null {
    return this.#index.keysMissing(from, prefix, limit);
  }

  /**
   * Below which UID every message's key text (of `version`) is stored, as recorded by
   * setKeysDoneBelow after a complete pass; 0 when unknown. Messages are added above
   * UIDNEXT, so a pass from there on finds the rest.
   */
  keysDoneBelow(version: number): number {
    return this.#index.keysDoneBelow(version);
  }

  setKeysDoneBelow(version: number, uid: number): void {
    this.#index.setKeysDoneBelow(version, uid);
  }

  /**
   * A blob a layer above derives from the stored keys (the IMAP subject column), kept in
   * the index until another UIDVALIDITY; null when there is none or no index.
   */
  keysBlob(): Uint8Array | null {
    return this.#index.keysBlob();
  }

  putKeysBlob(bytes: Uint8Array): void {
    this.#index.putKeysBlob(bytes);
  }

  /** Forgets stored key texts of messages no longer in the folder (counted over turns). */
  keysDropOrphans(): Promise<void> {
    return this.#index.keysDropOrphans();
  }

  /** One message's stored key text, if any. */
  keysGet(base: string): string | undefined {
    return this.#index.keysGet(base);
  }

  /** Remembers a message's key text in the index (written in batches). */
  keysPut(base: string, text: string): void {
    this.#index.keysPut(base, text);
  }

  /** Writes the key texts put so far now (the end of a bulk fill's batch). */
  writeKeys(): void {
    this.#index.writeKeys();
  }
}
