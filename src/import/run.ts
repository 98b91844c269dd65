/**
 * The two imports of SPEC §11 over a user's mailbox: a Maildir tree (every folder, its
 * flags, keywords, UIDs and subscriptions) and mbox files (into one folder). Sources
 * are read a batch ahead of the batch being stored, so reading and fsyncs overlap.
 */
import type { MailStore } from "../store/mailstore.ts";
import { FolderNameError } from "../store/maildir_names.ts";
import {
  readSubscriptions as readOurSubscriptions,
  writeSubscriptions,
} from "../imap/subscriptions.ts";
import {
  findFolders,
  readFolder,
  readMessage,
  readSubscriptions,
  type SourceMessage,
} from "./maildir_source.ts";
import { MboxFormatError, MboxSplitter } from "./mbox.ts";
import { convertMboxEntry } from "./mbox_message.ts";
import type { ImportReport } from "./progress.ts";
import { type ImportItem, type Outcome, type SourceUidState, TargetFolder } from "./target.ts";

/** Messages per batch: one UID list append and fsync each, and the unit of read-ahead. */
const BATCH = 1000;
/** A batch also ends at this many bytes (two batches are in memory at once). */
const BATCH_BYTES = 32 << 20;
/** mbox files are read in chunks of this size. */
const MBOX_CHUNK = 1 << 20;

export interface ImportTarget {
  store: MailStore;
  /** The user's Maildir root. */
  root: string;
  dryRun: boolean;
  report: ImportReport;
}

function tally(t: ImportTarget, folder: string, items: ImportItem[], outcomes: Outcome[]): void {
  outcomes.forEach((o, i) => {
    if (o === "imported") t.report.imported1(folder, items[i].data.length);
    else if (o === "present") t.report.present1();
    else t.report.error(`storing a message in ${folder}`, o);
  });
  t.report.tick();
}

/**
 * Hands batches to the target folder while the next one is being read: at most two are
 * in flight (one being fsync'd, one being written), so memory stays bounded.
 */
class BatchWriter {
  #inFlight: Promise<void>[] = [];

  constructor(readonly t: ImportTarget, readonly target: TargetFolder, readonly name: string) {}

  async submit(items: ImportItem[], source: SourceUidState | null): Promise<void> {
    if (items.length === 0) return;
    const stored = this.target.add(items, source).then((outcomes) =>
      tally(this.t, this.name, items, outcomes)
    );
    // A failure is thrown where the batch is awaited, not as an unhandled rejection before.
    stored.catch(() => {});
    this.#inFlight.push(stored);
    if (this.#inFlight.length >= 2) await this.#inFlight.shift();
  }

  async done(): Promise<void> {
    await Promise.all(this.#inFlight.splice(0));
  }
}

/**
 * Reads the Maildir files of one batch from `from` on; unreadable ones are reported and
 * left out. Returns the items and where the next batch starts.
 */
function readBatch(
  t: ImportTarget,
  refs: SourceMessage[],
  from: number,
): { items: ImportItem[]; next: number } {
  const items: ImportItem[] = [];
  let bytes = 0, at = from;
  for (; at < refs.length && at - from < BATCH && bytes < BATCH_BYTES; at++) {
    const ref = refs[at];
    try {
      const { data, internalDate } = readMessage(ref.path);
      items.push({ data, internalDate, flags: ref.flags, sourceUid: ref.uid });
      bytes += data.length;
    } catch (e) {
      t.report.error(ref.path, e);
    }
  }
  return { items, next: at };
}

/** `extremail import maildir`: every folder of the tree at `path`. */
export async function importMaildir(t: ImportTarget, path: string): Promise<void> {
  const folders = await findFolders(path);
  const contents = [];
  for (const f of folders) {
    const content = await readFolder(f.path);
    for (const n of content.notes) t.report.note(n);
    contents.push(content);
  }
  t.report.setTotals({ messages: contents.reduce((n, c) => n + c.messages.length, 0) });
  for (let i = 0; i < folders.length; i++) {
    const { name } = folders[i];
    const { messages, uids } = contents[i];
    let target: TargetFolder;
    try {
      target = await TargetFolder.open(t.store, t.root, name, t.dryRun);
    } catch (e) {
      if (!(e instanceof FolderNameError)) throw e;
      // A name another server allowed and we cannot store: the other folders go on.
      t.report.error(`${folders[i].path} (${messages.length} messages not imported)`, e);
      continue;
    }
    const writer = new BatchWriter(t, target, name);
    for (let at = 0; at < messages.length;) {
      const batch = readBatch(t, messages, at);
      await writer.submit(batch.items, uids);
      at = batch.next;
    }
    await writer.done();
    await target.finish(uids);
    noteDropped(t, name, target);
  }
  if (!t.dryRun) await mergeSubscriptions(t, path, folders.map((f) => f.name));
}

function noteDropped(t: ImportTarget, name: string, target: TargetFolder): void {
  if (target.droppedKeywords.size === 0) return;
  t.report.note(
    `${name}: keywords ${[...target.droppedKeywords].join(" ")} dropped ` +
      `(a Maildir folder holds 26 keywords at most)`,
  );
}

/** Adds the source's subscriptions to the user's (existing ones stay). */
async function mergeSubscriptions(t: ImportTarget, path: string, folders: string[]): Promise<void> {
  const theirs = await readSubscriptions(path, folders);
  if (!theirs) return;
  const ours = await readOurSubscriptions(t.root);
  const added = theirs.filter((n) => !ours.includes(n));
  if (added.length > 0) await writeSubscriptions(t.root, [...ours, ...added]);
}

/** `extremail import mbox`: the messages of each file, in order, into one folder. */
export async function importMbox(t: ImportTarget, files: string[], folder: string): Promise<void> {
  let total = 0;
  for (const f of files) {
    try {
      total += (await Deno.stat(f)).size;
    } catch { /* reported when it is opened */ }
  }
  t.report.setTotals({ sourceBytes: total });
  const target = await TargetFolder.open(t.store, t.root, folder, t.dryRun);
  const writer = new BatchWriter(t, target, folder);
  for (const file of files) await importMboxFile(t, writer, file);
  await writer.done();
  noteDropped(t, folder, target);
}

async function importMboxFile(t: ImportTarget, writer: BatchWriter, file: string): Promise<void> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file, { read: true });
  } catch (e) {
    t.report.error(file, e);
    return;
  }
  const splitter = new MboxSplitter();
  let source: SourceUidState | null = null;
  let batch: ImportItem[] = [];
  let bytes = 0;
  const take = async (entries: ReturnType<MboxSplitter["push"]>) => {
    for (const entry of entries) {
      const m = convertMboxEntry(entry);
      source ??= m.base;
      if (m.pseudo) continue;
      batch.push({ data: m.data, flags: m.flags, internalDate: m.internalDate, sourceUid: m.uid });
      bytes += m.data.length;
      if (batch.length >= BATCH || bytes >= BATCH_BYTES) {
        await writer.submit(batch, source);
        batch = [];
        bytes = 0;
      }
    }
  };
  try {
    const buf = new Uint8Array(MBOX_CHUNK);
    for (let n = await handle.read(buf); n !== null; n = await handle.read(buf)) {
      t.report.read(n);
      await take(splitter.push(buf.subarray(0, n)));
    }
    await take(splitter.end());
  } catch (e) {
    if (e instanceof MboxFormatError) {
      t.report.error(file, new Error(`not an mbox file (${e.message})`));
    } else t.report.error(file, e);
  } finally {
    handle.close();
  }
  await writer.submit(batch, source);
}
