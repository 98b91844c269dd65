/**
 * Start-up replay of the delivery journal (delivery_journal.ts), before any listener
 * opens and before any folder is loaded: every record left by an earlier process is a
 * message that may have been answered with 250 while its file or names were not durable
 * yet. For each target name (`<folder>/new/<name>`): the file found there, or in cur/
 * under `<name>:2,<flags>` (a reader may have seen and moved it), is kept when its bytes
 * are the record's (size and CRC-32); one with other bytes (torn by the crash) is
 * rewritten in place; none is written anew. So a record's message ends up in every
 * target exactly as accepted; a message expunged in the moment before the crash comes
 * back (a duplicate, which RFC 5321 6.1 allows; a loss it does not). Torn records (cut
 * short, wrong CRC) were never acknowledged and are ignored. The replayed segments are
 * then removed.
 */
import { crc32 } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { decodeRecords, type JournalRecord } from "./delivery_journal.ts";
import { exists, syncDir, writeFileAtomic } from "./fsutil.ts";

export interface ReplayOutcome {
  /** Whole records read. */
  records: number;
  /** Target files that were missing and were written from their record. */
  restored: number;
  /** Target files found with other bytes (torn), rewritten from their record. */
  rewritten: number;
  /** Segments that ended in a torn record. */
  tornSegments: number;
  /** Targets whose folder no longer exists (deleted mailbox): nothing to restore into. */
  skipped: number;
  /** Their paths (the start-up log names them: a DirBase moved since would show here). */
  skippedPaths: string[];
}

/** Replays and removes every segment in `journalDir` (absent: nothing to do). */
export async function replayJournal(journalDir: string): Promise<ReplayOutcome> {
  const out: ReplayOutcome = {
    records: 0,
    restored: 0,
    rewritten: 0,
    tornSegments: 0,
    skipped: 0,
    skippedPaths: [],
  };
  const segments: string[] = [];
  try {
    for await (const e of Deno.readDir(journalDir)) {
      if (e.isFile && e.name.endsWith(".journal")) segments.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  segments.sort();
  const curNames = new Map<string, string[]>();
  for (const name of segments) {
    const { records, torn } = decodeRecords(await Deno.readFile(join(journalDir, name)));
    if (torn) out.tornSegments++;
    for (const record of records) {
      out.records++;
      await replayRecord(record, curNames, out);
    }
  }
  // Every target is durable (writeFileAtomic syncs file and directory): the records go.
  for (const name of segments) await Deno.remove(join(journalDir, name));
  if (segments.length > 0) await syncDir(journalDir);
  return out;
}

async function replayRecord(
  { header, data }: JournalRecord,
  curNames: Map<string, string[]>,
  out: ReplayOutcome,
): Promise<void> {
  const want = crc32(data);
  for (const dest of header.dests) {
    const newDir = dirname(dest);
    const folder = dirname(newDir);
    if (!(await exists(newDir))) {
      out.skipped++;
      out.skippedPaths.push(dest);
      continue;
    }
    const found = (await exists(dest)) ? dest : await inCur(folder, basename(dest), curNames);
    if (found === null) {
      await writeFileAtomic(dest, data);
      out.restored++;
    } else if (!(await sameBytes(found, data, want))) {
      await writeFileAtomic(found, data);
      out.rewritten++;
    } else {
      // In place, but perhaps only in the page cache of the process that died: the file
      // and its directory are synced again (cheap when already durable).
      const f = await Deno.open(found, { read: true });
      try {
        await f.sync();
      } finally {
        f.close();
      }
      await syncDir(dirname(found));
    }
  }
  // The tmp/ file, when the crash came before it was renamed into place.
  await Deno.remove(header.src).catch(() => {});
}

/** `<folder>/cur/<base>:2,<flags>` when the message was moved there, else null. */
async function inCur(
  folder: string,
  base: string,
  curNames: Map<string, string[]>,
): Promise<string | null> {
  const cur = join(folder, "cur");
  let names = curNames.get(cur);
  if (!names) {
    names = [];
    try {
      for await (const e of Deno.readDir(cur)) names.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    curNames.set(cur, names);
  }
  const name = names.find((n) => n === base || n.startsWith(`${base}:`));
  return name === undefined ? null : join(cur, name);
}

async function sameBytes(path: string, data: Uint8Array, crc: number): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  return bytes.length === data.length && crc32(bytes) === crc;
}
