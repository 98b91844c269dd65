/**
 * A folder's messages by UID (Folder.messages) over MessageTable's columns: each entry
 * is made when asked for (entry.ts); a UID is found by binary search over the UIDs in
 * order.
 */
import type { MessageEntry } from "./entry.ts";

/** The messages by UID (Folder.messages): entries made on demand. */
export interface EntriesByUid extends Iterable<[number, MessageEntry]> {
  readonly size: number;
  get(uid: number): MessageEntry | undefined;
  has(uid: number): boolean;
  /** In UID order. */
  values(): IterableIterator<MessageEntry>;
  keys(): IterableIterator<number>;
}

/** What the view needs of the table. */
interface Positions {
  readonly count: number;
  readonly size: number;
  positionOf(uid: number): number;
  uidOf(i: number): number;
  entryOf(i: number): MessageEntry;
  readonly columns: { removed(i: number): boolean };
}

export function entriesByUid(table: Positions): EntriesByUid {
  function* positions() {
    for (let i = 0; i < table.count; i++) if (!table.columns.removed(i)) yield i;
  }
  return {
    get size() {
      return table.size;
    },
    get: (uid) => {
      const i = table.positionOf(uid);
      return i < 0 ? undefined : table.entryOf(i);
    },
    has: (uid) => table.positionOf(uid) >= 0,
    *values() {
      for (const i of positions()) yield table.entryOf(i);
    },
    *keys() {
      for (const i of positions()) yield table.uidOf(i);
    },
    *[Symbol.iterator]() {
      for (const i of positions()) yield [table.uidOf(i), table.entryOf(i)];
    },
  };
}
