/**
 * Adopting files we place into a folder ourselves (deliveries, APPEND, COPY, MOVE):
 * they are linked or moved in and get their UIDs without reading the directories.
 * Concurrent callers are served in one batch: one UID list append and fsync for all.
 */
import { join } from "node:path";
import { eachParallel, linkOrCopy, renameOrCopy } from "../fsutil.ts";
import { fileNameFor, sortFlags } from "../maildir_names.ts";
import { type Sub, SUBS } from "./dirs.ts";
import { type MessageEntry, newEntry, rowOf } from "./messages.ts";
import { assignUids, type FolderState, insertEntry } from "./state.ts";

/** A file to place into the folder (Folder.add). */
export interface AddItem {
  /** Path of the file: hard-linked (`link`) or moved (renamed) into the folder. */
  src: string;
  link: boolean;
  base: string;
  /** Flag letters, stored in cur/; null stores in new/ (a delivery: \Recent). */
  flags: string | null;
  size: number;
  internalDate: number | null;
  /**
   * The message's SORT/SEARCH key text (MailStore's messageKeys hook, or the source's
   * stored one for a COPY), written to the index with the entry; absent: computed later.
   */
  keys?: string | null;
}

/** Per item: its UID, 0 when its source was gone, or why it could not be placed. */
type Outcome = number | Error;

interface Waiting {
  items: AddItem[];
  resolve: (uids: number[]) => void;
  reject: (e: unknown) => void;
}

/** add() calls waiting to be served together. */
export class AddQueue {
  #waiting: Waiting[] = [];

  /** Resolves with each item's UID (0: its source was gone) once a batch served it. */
  wait(items: AddItem[]): Promise<number[]> {
    return new Promise((resolve, reject) => this.#waiting.push({ items, resolve, reject }));
  }

  /**
   * Serves everyone waiting with one call of `work` over all their items. A caller whose
   * items include a failure gets that error; when `work` throws, everyone does.
   */
  async serve(work: (items: AddItem[]) => Promise<Outcome[]>): Promise<void> {
    const batch = this.#waiting.splice(0);
    if (batch.length === 0) return;
    try {
      const outcomes = await work(batch.flatMap((b) => b.items));
      let at = 0;
      for (const b of batch) {
        const part = outcomes.slice(at, at + b.items.length);
        const failed = part.find((p) => p instanceof Error);
        if (failed) b.reject(failed);
        else b.resolve(part as number[]);
        at += b.items.length;
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}

function subFor(it: AddItem): Sub {
  return it.flags === null ? "new" : "cur";
}

/** Links or moves one file to `dest`; a move across file systems copies, then removes. */
async function place(it: AddItem, dest: string): Promise<void> {
  if (it.link) await linkOrCopy(it.src, dest);
  else if (!(await renameOrCopy(it.src, dest))) {
    // Copied: the source goes as a rename would have taken it.
    await Deno.remove(it.src).catch(() => {});
  }
}

/**
 * Places the files into the folder and adds their entries, with one new mod-sequence.
 * Per item: its UID; 0 when its source was gone; any other failure, its error.
 */
export async function adoptFiles(
  st: FolderState,
  all: AddItem[],
): Promise<{ outcomes: Outcome[]; added: number }> {
  const names = all.map((it) => it.flags === null ? it.base : fileNameFor(it.base, it.flags));
  const placed: (Error | true | null)[] = all.map(() => null);
  const subs = SUBS.filter((s) => all.some((it) => subFor(it) === s));
  await st.dirs.own(subs, () =>
    eachParallel(all, async (it, i) => {
      try {
        await place(it, join(st.path, subFor(it), names[i]));
        placed[i] = true;
      } catch (e) {
        placed[i] = e instanceof Deno.errors.NotFound ? null : e as Error;
      }
    }));
  const okBases = all.filter((_, i) => placed[i] === true).map((it) => it.base);
  let uids = new Map<string, number>();
  let modseq = 0;
  if (okBases.length > 0) {
    modseq = await st.modseqs.next();
    uids = await assignUids(st, okBases);
  }
  const added: MessageEntry[] = [];
  all.forEach((it, i) => {
    if (placed[i] !== true) return;
    added.push(newEntry({
      uid: uids.get(it.base)!,
      base: it.base,
      sub: subFor(it),
      name: names[i],
      flags: it.flags === null ? "" : sortFlags(it.flags),
      size: it.size,
      internalDate: it.internalDate,
      modseq,
      extra: undefined,
    }));
  });
  added.sort((a, b) => a.uid - b.uid);
  for (const e of added) insertEntry(st, e);
  const savedAt = Date.now();
  st.index.tx((ix) => {
    for (const e of added) {
      ix.put(rowOf(e));
      ix.setSaved(e.uid, savedAt); // RFC 8514 SAVEDATE, Folder.saveDate
    }
    all.forEach((it, i) => {
      if (placed[i] === true && it.keys) ix.keysPut(it.base, it.keys);
    });
    st.dirs.saveTo(ix);
    ix.setMeta({ highestmodseq: st.modseqs.highest });
  });
  const outcomes = all.map((it, i) => {
    const p = placed[i];
    return p instanceof Error ? p : p === true ? uids.get(it.base)! : 0;
  });
  return { outcomes, added: added.length };
}
