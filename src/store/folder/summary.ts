/**
 * A folder's summary, written into its index at a clean close, so the next open can
 * answer SELECT (EXISTS, the UIDs in order, UNSEEN, RECENT, UIDNEXT, HIGHESTMODSEQ) without
 * reading every message row or the whole UID list: those are read on first real need
 * (MessageTable's lazy rows, UidListCache.sync). With 100,000 messages that is the
 * difference between a few milliseconds and a few hundred.
 *
 * Trusted only when everything it was written against is unchanged: the index meta
 * (UIDVALIDITY, HIGHESTMODSEQ, the directory marks, the clean mark, and the summary's
 * generation, which the first write to the index after it sets to 0 in the same commit:
 * index_db.ts tx) and the UID list's file identity (inode, size, mtime). So a process
 * that changes the folder without writing a new one (a crash) never leaves a stale one
 * behind; an older version that knows no generation takes the summary out as it reads
 * it. A summary that does not decode is ignored: the folder loads the slow way.
 *
 * It carries each message's flag letters too (as an index into the distinct letter sets),
 * so a flag search after a restart (SEARCH UNSEEN) reads no row either.
 *
 *   "XFS3" u32 jsonLength u32 count u32 inNewCount  json (padded to 4)  uids
 *   u32 inNew[inNewCount]  flagIds[count]             (little-endian; json.flagSets)
 *
 * uids: u32 uids[count], or with json.uidRuns = n > 0, n pairs (u32 first, u32 length) of
 * consecutive UIDs; flagIds: u8 each when json.idBytes is 1 (at most 256 letter sets),
 * else u16. A folder that only ever received mail has its UIDs in one run and two letter
 * sets: its summary read from the index was 600 KB for 100,000 messages (about 8 ms of a
 * restart's SELECT in SQLite's overflow pages), now about 100 KB. An "XFS2" summary of an
 * older version is not decoded (the folder loads from its rows once), and an older
 * version does not decode this one.
 */
import type { DirMark } from "./index_db.ts";
import { arrayOf, UidRuns } from "./uid_runs.ts";

/** The UID list file the summary matches, and what it said. */
export interface ListIdentity {
  ino: number | null;
  size: number;
  mtime: number;
}

export interface FolderSummary {
  /** Which summary this is: the index meta names the one still valid (summary_gen). */
  gen: number;
  uidValidity: number;
  uidNext: number;
  modseqCeiling: number;
  highestModseq: number;
  newDir: DirMark;
  curDir: DirMark;
  list: ListIdentity;
  unseen: number;
  deleted: number;
  bytes: number;
  /** UID of the first message without \Seen (0: none). */
  firstUnseen: number;
  /**
   * The UIDs in order: `uids[0 .. count)`. Decoded: a view on the summary's bytes, or
   * its runs, made into an array only when one is needed (uid_runs.ts).
   */
  uids: Uint32Array<ArrayBuffer> | UidRuns;
  count: number;
  /** UIDs of the messages in new/. */
  inNew: Uint32Array;
  /** Each message's flag letters: `sets[ids[i]]` for `uids[i]`. */
  flags: FlagColumn;
}

/** Flag letters per message as indexes into the distinct letter sets. */
export interface FlagColumn {
  sets: string[];
  /** One byte each when decoded from a summary of at most 256 sets (a view: no copy). */
  ids: Uint8Array | Uint16Array;
}

/** At most this many distinct letter sets fit the column. */
export const MAX_FLAG_SETS = 65536;

const MAGIC = 0x33534658; // "XFS3"

/**
 * The flag column of `ids` (numbers among `allSets`, MessageTable's), numbered afresh
 * over the sets in use; null when more than MAX_FLAG_SETS are.
 */
export function flagColumnOf(allSets: readonly string[], allIds: Uint32Array): FlagColumn | null {
  const sets: string[] = [], idOf = new Int32Array(allSets.length).fill(-1);
  const ids = new Uint16Array(allIds.length);
  for (let i = 0; i < allIds.length; i++) {
    let id = idOf[allIds[i]];
    if (id < 0) {
      if (sets.length === MAX_FLAG_SETS) return null;
      idOf[allIds[i]] = id = sets.length;
      sets.push(allSets[allIds[i]]);
    }
    ids[i] = id;
  }
  return { sets, ids };
}

/** The runs of consecutive values of ascending `uids` as (first, length) pairs. */
function runsOf(uids: Uint32Array): number[] {
  const runs: number[] = [];
  for (let i = 0; i < uids.length;) {
    let j = i + 1;
    while (j < uids.length && uids[j] === uids[j - 1] + 1) j++;
    runs.push(uids[i], j - i);
    i = j;
  }
  return runs;
}

export function encodeSummary(s: FolderSummary): Uint8Array {
  const ids = s.flags.ids.subarray(0, s.count);
  // Runs when they are smaller than the UIDs themselves (expunges break them up); runs
  // read from the last summary and not made into an array since are written as they are.
  const given = s.uids;
  let runs: Uint32Array | null = null, uids: Uint32Array = new Uint32Array(0);
  if (given instanceof UidRuns && !given.filled) runs = given.pairs;
  else {
    uids = arrayOf(given).subarray(0, s.count);
    const found = runsOf(uids);
    if (found.length < uids.length) runs = new Uint32Array(found);
  }
  const idBytes = s.flags.sets.length <= 256 ? 1 : 2;
  const json = new TextEncoder().encode(JSON.stringify({
    gen: s.gen,
    uidValidity: s.uidValidity,
    uidNext: s.uidNext,
    modseqCeiling: s.modseqCeiling,
    highestModseq: s.highestModseq,
    newDir: s.newDir,
    curDir: s.curDir,
    list: s.list,
    unseen: s.unseen,
    deleted: s.deleted,
    bytes: s.bytes,
    firstUnseen: s.firstUnseen,
    flagSets: s.flags.sets,
    uidRuns: runs ? runs.length / 2 : 0,
    idBytes,
  }));
  const head = 16 + ((json.length + 3) & ~3);
  const uidWords = runs ? runs.length : s.count;
  const out = new Uint8Array(head + 4 * (uidWords + s.inNew.length) + idBytes * s.count);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, json.length, true);
  dv.setUint32(8, s.count, true);
  dv.setUint32(12, s.inNew.length, true);
  out.set(json, 16);
  let at = head;
  for (const list of [runs ?? uids, s.inNew]) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(list.buffer, list.byteOffset, list.byteLength), at);
    else for (let i = 0; i < list.length; i++) dv.setUint32(at + 4 * i, list[i], true);
    at += 4 * list.length;
  }
  if (idBytes === 1) out.set(ids, at); // each below 256: set() stores them as bytes
  else if (LITTLE_ENDIAN && ids instanceof Uint16Array) {
    out.set(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), at);
  } else for (let i = 0; i < ids.length; i++) dv.setUint16(at + 2 * i, ids[i], true);
  return out;
}

/** A new summary generation (positive, 0 means none). */
export function newSummaryGen(): number {
  return 1 + (crypto.getRandomValues(new Uint32Array(1))[0] & 0x7fffffff);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * `count` little-endian u32 from `bytes` at `offset`: a view on the bytes where they are
 * aligned, else one copy (decoding 100,000 UIDs one getUint32 at a time cost a restart's
 * SELECT tens of ms; a copy of 400 KB a tenth of a millisecond).
 */
function uint32s(bytes: Uint8Array, offset: number, count: number): Uint32Array<ArrayBuffer> {
  const at = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && at % 4 === 0) return new Uint32Array(bytes.buffer as ArrayBuffer, at, count);
  const into = new Uint32Array(count);
  const raw = bytes.subarray(offset, offset + 4 * count);
  if (LITTLE_ENDIAN) new Uint8Array(into.buffer).set(raw);
  else {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) into[i] = dv.getUint32(4 * i, true);
  }
  return into;
}

/** `count` little-endian u16 from `bytes` at `offset`, as uint32s() does. */
function uint16s(bytes: Uint8Array, offset: number, count: number): Uint16Array {
  const at = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && at % 2 === 0) return new Uint16Array(bytes.buffer as ArrayBuffer, at, count);
  const into = new Uint16Array(count);
  const raw = bytes.subarray(offset, offset + 2 * count);
  if (LITTLE_ENDIAN) new Uint8Array(into.buffer).set(raw);
  else {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) into[i] = dv.getUint16(2 * i, true);
  }
  return into;
}

export function decodeSummary(bytes: Uint8Array): FolderSummary | null {
  try {
    if (bytes.length < 16) return null;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== MAGIC) return null;
    const jsonLength = dv.getUint32(4, true);
    const count = dv.getUint32(8, true), inNewCount = dv.getUint32(12, true);
    const head = 16 + ((jsonLength + 3) & ~3);
    const j = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + jsonLength)));
    const runCount = j.uidRuns, idBytes = j.idBytes;
    if (!Number.isSafeInteger(runCount) || runCount < 0) return null;
    if (idBytes !== 1 && idBytes !== 2) return null;
    const uidWords = runCount > 0 ? 2 * runCount : count;
    const flagsAt = head + 4 * (uidWords + inNewCount);
    if (bytes.length !== flagsAt + idBytes * count) return null;
    const uids = runCount > 0
      ? UidRuns.of(uint32s(bytes, head, uidWords), count)
      : uint32s(bytes, head, count);
    if (!uids) return null;
    const inNew = uint32s(bytes, head + 4 * uidWords, inNewCount);
    const sets = j.flagSets;
    if (!Array.isArray(sets) || !sets.every((f) => typeof f === "string")) return null;
    // One byte each: a view on the bytes (widening 100,000 of them to u16 by set() was
    // 1.3 ms of a restart's SELECT: V8 converts element by element).
    const ids = idBytes === 2
      ? uint16s(bytes, flagsAt, count)
      : bytes.subarray(flagsAt, flagsAt + count);
    if (!Number.isSafeInteger(j.gen) || j.gen <= 0) return null;
    const nums = [
      j.uidValidity,
      j.uidNext,
      j.modseqCeiling,
      j.highestModseq,
      j.unseen,
      j.deleted,
      j.bytes,
      j.firstUnseen,
      j.list?.size,
      j.list?.mtime,
      j.newDir?.mtime,
      j.curDir?.mtime,
    ];
    if (!nums.every((n) => typeof n === "number" && Number.isFinite(n))) return null;
    delete j.flagSets;
    delete j.uidRuns;
    delete j.idBytes;
    return { ...j, uids, count, inNew, flags: { sets, ids } } as FolderSummary;
  } catch {
    return null;
  }
}
