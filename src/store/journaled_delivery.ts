/**
 * A small delivery made durable through the delivery journal (delivery_journal.ts): one
 * sync before the caller is answered, and that one shared with every delivery in flight.
 *
 *   1. a journal record with the bytes, the file's name and the final names is
 *      appended and the journal's group-commit fdatasync requested (it starts at the end
 *      of the loop's turn, shared with the records of the turn, or after the sync
 *      running now; the record follows the file's write of step 2 in the same turn, so
 *      a create that fails leaves no record);
 *   2. meanwhile the file is created in tmp/ and written (synchronous, page cache;
 *      through libc where it can, libc_files.ts, as are the rename, the links and the
 *      file's fsync), or, when the delivery file pool (file_pool.ts) has one ready, an
 *      empty file it made ahead is written instead (no create on the event loop); then
 *      the fdatasync is awaited: from here the message survives a crash (the next start
 *      replays the record);
 *   3. the file is linked into every target's new/ but the last, renamed into that one
 *      (synchronous name changes), and the caller answers (SMTP: 250);
 *   4. in the background: syncfs(2) of the file system, shared with every delivery of
 *      the moment (libc_files.ts), when every name was made by link or rename (one file
 *      system); else fsync of the file and of every target new/ (shared with other
 *      deliveries, fsutil.syncDir), in parallel. Once done, the record is retired.
 *
 * The names appear in new/ only after step 2, so no crash can leave a message in a
 * mailbox whose bytes are not durable somewhere: a file torn by a crash after step 3 is
 * found and rewritten from its record at the next start (journal_recovery.ts).
 */
import { dirname } from "node:path";
import type { DeliveryJournal } from "./delivery_journal.ts";
import { linkOrCopy, renameOrCopy, syncDir } from "./fsutil.ts";
import type { FilePool } from "./file_pool.ts";
import { createWritten, linkLibc, renameLibc, writtenInto } from "./libc_files.ts";

/** What the caller waits for (placed, durable through the journal) and what follows. */
export interface JournaledDelivery {
  /** fsyncs of the file and its directories, then the record's retirement. */
  background: Promise<void>;
}

/**
 * Stores `data` at `src` (tmp/) and then at each of `dests` (paths in new/ directories),
 * resolving once the journal record is durable and the names are in place.
 */
export async function deliverJournaled(
  journal: DeliveryJournal,
  tmp: string,
  dests: readonly string[],
  data: Uint8Array,
  pool: FilePool | null = null,
): Promise<JournaledDelivery> {
  // A file made ahead by the pool when one is ready (no create on the event loop), else
  // the delivery's own in tmp/. The record, appended next, names whichever it is: a
  // crash before the rename leaves it to the replay (and the pool's own clean-up).
  const pooled = pool?.take();
  const inPool = pooled ? writtenInto(pooled.fd, pooled.path, data) : null;
  const src = inPool && pooled ? pooled.path : tmp;
  const file = inPool ?? createWritten(tmp, data);
  // The file is written while the record's sync is pending (started at the end of the
  // turn, or after the running one). Replay needs only the record: it writes every
  // target name from it (journal_recovery.ts).
  const ticket = journal.append({ src, dests: [...dests] }, data);
  const removeSrc = () => {
    try {
      Deno.removeSync(src);
    } catch { /* gone already, or the error that brought us here is the one to report */ }
  };
  let srcGone = false;
  // Every name was made by link(2) or rename(2), which work within one file system only:
  // then one syncfs(2) of the file's covers the file and every directory entry.
  let oneFileSystem = true;
  try {
    await ticket.committed;
    for (let i = 0; i < dests.length; i++) {
      // Another file system: a copy, fsync'd by linkOrCopy; the source stays for below.
      if (i < dests.length - 1) {
        if (linkLibc(src, dests[i])) continue;
        oneFileSystem = false;
        await linkOrCopy(src, dests[i]);
      } else if (renameLibc(src, dests[i])) srcGone = true;
      else {
        oneFileSystem = false;
        srcGone = await renameOrCopy(src, dests[i]);
      }
    }
  } catch (e) {
    // Not answered with success: the record goes (names placed so far stay, as a retry
    // may then deliver twice, which RFC 5321 6.1 allows; it never loses).
    file.close();
    if (!srcGone) removeSrc();
    journal.retire(ticket);
    throw e;
  }
  // A pool file copied into a mailbox on another file system: later ones would be too.
  if (inPool && !oneFileSystem) pool?.disable(`${dests.join(", ")} is on another file system`);
  const background = (async () => {
    try {
      // One syncfs shared by the deliveries of the moment, instead of a pool round trip
      // per file and per directory (docs/performance.md, "SMTP ingest latency").
      if (!oneFileSystem || !(await file.syncFileSystem())) {
        // In parallel: the record covers both until both are done, so their order is free.
        const dirs = [...new Set(dests.map((d) => dirname(d)))];
        await Promise.all([file.sync(), ...dirs.map((d) => syncDir(d))]);
      }
    } finally {
      file.close();
    }
    if (!srcGone) removeSrc();
    journal.retire(ticket);
  })();
  return { background };
}
