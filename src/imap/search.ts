/**
 * SEARCH and UID SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4): every search key (parsed in
 * search_keys.ts, evaluated in search_eval.ts on the messages of search_message.ts),
 * CHARSET UTF-8 and US-ASCII, ESEARCH results (RFC 4731 RETURN MIN/MAX/COUNT/ALL, and
 * always for IMAP4rev2 sessions), the SAVE result option and "$" (RFC 5182,
 * search_res.ts), WITHIN (RFC 5032), and RFC 5267 CONTEXT=SEARCH: PARTIAL (esearch.ts)
 * and UPDATE (kept current by search_context.ts).
 *
 * Cost: flag, number, size and mod-sequence keys are answered from the folder's columns
 * with no entry made (search_decide.ts), date keys from the folder's entries; header
 * keys from the parsed-structure cache (msgcache.ts), which holds small headers; SUBJECT
 * from the folder's stored message keys (sort_index.ts) when they are known; BODY/TEXT
 * from the folder's full-text index (src/store/fts/) for the messages it holds; only the
 * others (and headers too large to cache) read message files, a few at a time.
 */
import { type Args, ImapError, no } from "./args.ts";
import { type CommandSpec, SELECTED } from "./command_table.ts";
import { folderKeys } from "./sort_index.ts";
import { SubjectAnswers } from "./subject_column.ts";
import type { Session } from "./session.ts";
import { compileKey, cost, evaluate, needsContent, type Node } from "./search_eval.ts";
import { type Key, parseSearchKeys, someKey } from "./search_keys.ts";
import { decideWithoutEntries, UNKNOWN, YES } from "./search_decide.ts";
import { savedUids, saveResult } from "./search_res.ts";
import type { MailboxView } from "./view.ts";
import { esearchResponse, parseReturnOptions, reported, RETURN_ALL } from "./esearch.ts";
import { checkContextTag, openContext } from "./search_context.ts";
import { textAnswers, ViewMessage } from "./search_message.ts";
import { numberLine } from "./wire.ts";
import { searchLineInto } from "./search_line.ts";

export { type Key, parseSearchKeys } from "./search_keys.ts";

/** Charsets for search strings (RFC 9051 §6.4.4: US-ASCII and UTF-8 are required). */
const CHARSETS = new Set(["UTF-8", "US-ASCII"]);
const BADCHARSET = "BADCHARSET (UTF-8 US-ASCII)";
/** Messages whose content is searched at the same time, and their bytes. */
const PARALLEL = 8;
const PARALLEL_BYTES = 8 << 20;

/** What a search is run with besides its key. */
export interface SearchOptions {
  /** Only these messages (0-based positions in the view, ascending): a context update. */
  only?: readonly number[];
  /** The "$" of the key (RFC 5182): the saved result as the searching command saw it. */
  saved?: readonly number[];
  /** The key as compileFor() made it for this view, when the caller has it already. */
  node?: Node;
}

/** Runs a search over the session's view; returns the matching [seq, uid] pairs in order. */
export async function runSearch(
  s: Session,
  key: Key,
  opts: SearchOptions = {},
): Promise<[number, number][]> {
  const found = await searchPositions(s, key, opts);
  const uids = s.view!.uids;
  return found.map((i) => [i + 1, uids[i]]);
}

/**
 * Runs a search over the session's view; returns the 0-based positions (sequence number
 * - 1) of the matches in order: SEARCH UNSEEN of 90,000 hits makes no pair per hit.
 */
export async function searchPositions(
  s: Session,
  key: Key,
  opts: SearchOptions = {},
): Promise<number[]> {
  const view = s.view!;
  const folder = view.folder;
  const node = opts.node ?? compileFor(
    view,
    key,
    opts.saved ?? (someKey(key, (k) => k.op === "saved") ? savedUids(view) : []),
  );
  const content = needsContent(node);
  // SUBJECT runs from the folder's subject column, then its stored keys (no header
  // parsing) where they are known.
  const keys = someKey(key, (k) => k.op === "header" && k.field === "subject")
    ? folderKeys(folder)
    : null;
  const column = keys ? await keys.searchSubjects() : null;
  const subjects = column ? new SubjectAnswers(column) : null;
  // Answered from UIDs, sequence numbers and the column alone: entries are not read (a
  // folder started from its summary keeps its rows in the index).
  const lazy = subjects !== null && entryFree(node);
  // BODY/TEXT from the full-text index where it has the message (src/store/fts/).
  const answers = await textAnswers(s.ctx.store.fullText, folder, node);
  // Metadata keys alone (flags, numbers, sequence sets) answer synchronously from the entry.
  // So do messages the subject column holds, when nothing else is asked: one object is
  // pointed at each in turn (an object per message was most of a warm SUBJECT search's
  // garbage, and its young generation grew the process by tens of MB).
  const reuse = (cost(node) <= 1 && !keys) || lazy
    ? new ViewMessage(folder, null, 0, 0, false, keys, answers, subjects, view)
    : null;
  const positions = opts.only;
  const n = positions ? positions.length : view.uids.length;
  // One flag (SEEN, UNSEEN, DELETED...): a plain pass over the entries' letters.
  if (node.op === "flag" && !positions) return flagPass(view, n, node.letter, node.set);
  // Messages the folder's columns or the full-text index decide need no evaluation of
  // their own, nor an entry (search_decide.ts).
  const decided = decideWithoutEntries(node, view, answers, positions ?? null);
  const hit = new Uint8Array(n);
  let pending: Promise<void>[] = [];
  let pendingBytes = 0;
  for (let j = 0; j < n; j++) {
    const i = positions ? positions[j] : j;
    if (decided && decided[j] !== UNKNOWN) {
      if (decided[j] === YES && view.present(i)) hit[j] = 1;
      continue;
    }
    const uid = view.uids[i];
    const entry = lazy ? null : view.entryAt(i);
    // Expunged by another session, not yet reported.
    if (lazy ? !view.present(i) : !entry) continue;
    const recent = view.recent.size > 0 && view.recent.has(uid);
    const m = reuse && (!lazy || subjects!.holds(uid))
      ? reuse.moveTo(entry ?? null, i + 1, uid, recent)
      : new ViewMessage(folder, entry ?? null, i + 1, uid, recent, keys, answers, subjects, view);
    const r = evaluate(node, m);
    if (!(r instanceof Promise)) {
      hit[j] = r ? 1 : 0;
      continue;
    }
    pending.push(r.then((v) => {
      hit[j] = v ? 1 : 0;
    }, (e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // expunged meanwhile
    }));
    pendingBytes += content && entry ? entry.size : 0;
    if (pending.length >= PARALLEL || pendingBytes >= PARALLEL_BYTES) {
      await Promise.all(pending);
      pending = [];
      pendingBytes = 0;
      if (content) await s.out.maybeFlush();
    }
  }
  await Promise.all(pending);
  const out: number[] = [];
  for (let j = 0; j < n; j++) if (hit[j]) out.push(positions ? positions[j] : j);
  return out;
}

/** The key resolved for the view's mailbox (keywords to letters, "$" to `saved`). */
function compileFor(view: MailboxView, key: Key, saved: readonly number[]): Node {
  const folder = view.folder;
  return compileKey(key, {
    exists: view.exists,
    lastUid: view.lastUid,
    keywordLetter: (name) => {
      const lower = name.toLowerCase();
      const i = folder.keywords.findIndex((k) => k.toLowerCase() === lower);
      return i < 0 ? undefined : String.fromCharCode(97 + i);
    },
    saved,
    now: Date.now(),
  });
}

/**
 * The positions of the first `n` messages of the view whose letters hold `letter` (or not);
 * after a restart from the folder's letters column, no message row is read.
 */
function flagPass(view: MailboxView, n: number, letter: string, set: boolean): number[] {
  // Messages expunged by another session, not yet reported, are left out.
  return view.flagRuns(n, letter, set).positions();
}

/**
 * A plain SEARCH (or UID SEARCH) of one flag over the whole view (SEARCH UNSEEN, SEEN,
 * KEYWORD x; ALL too): its response written from the folder's letter-set column straight
 * into the reply's buffer (search_line.ts), no number per match made; false when the key
 * is something else.
 */
function flagSearchLine(s: Session, node: Node, uid: boolean): boolean {
  if (node.op !== "flag" && node.op !== "const") return false;
  const view = s.view!;
  const n = view.exists;
  // After a restart, the summary's column: no message row is read.
  const col = view.flagIds(n);
  const hit = (letters: string) =>
    node.op === "const" ? node.value : letters.includes(node.letter) === node.set;
  // Messages expunged by another session, not yet reported, are left out (undefined).
  const matches = (i: number) => {
    const letters = view.flagsAt(i);
    return letters !== undefined && hit(letters);
  };
  // SEARCH answers by position: after a restart the UIDs stay the summary's runs.
  const uids = uid ? view.uids : null;
  s.out.written((alloc) =>
    searchLineInto("* SEARCH", col, col.sets.map(hit), uids, uid ? 0 : 1, n, matches, "\r\n", alloc)
  );
  return true;
}

/** Whether a node needs nothing of a message but its UID, number and SUBJECT values. */
function entryFree(n: Node): boolean {
  switch (n.op) {
    case "const":
    case "seq":
    case "uid":
    case "uids":
    case "recent":
      return true;
    case "header":
      // A needle holding the column's separator is tested per message (subject_column.ts).
      return n.field === "subject" && !n.needle.includes("\u0000");
    case "not":
      return entryFree(n.node);
    case "or":
      return entryFree(n.a) && entryFree(n.b);
    case "and":
      return n.nodes.every(entryFree);
    default:
      return false;
  }
}

/** The highest mod-sequence of `uids` (RFC 7162 §3.4), or null when there is none. */
export function highestModSeq(view: MailboxView, uids: Iterable<number>): number | null {
  let top: number | null = null;
  for (const u of uids) {
    const seq = view.seqOf(u);
    const m = seq > 0 ? view.folder.modseqAt(view.snapshot, seq - 1) : undefined; // no entry
    if (m !== undefined && (top === null || m > top)) top = m;
  }
  return top;
}

async function searchCommand(s: Session, tag: string, args: Args, uid: boolean) {
  const ret = parseReturnOptions(args, "SEARCH");
  const save = ret?.save ?? false;
  const view = s.view!;
  // RFC 5267 §4.3: UPDATE under the tag of a live context is refused before anything runs.
  if (ret?.update) checkContextTag(view, tag);
  try {
    if (args.peekAtom() === "CHARSET") {
      args.atom("CHARSET");
      const cs = args.astring("charset").toUpperCase();
      if (!CHARSETS.has(cs)) throw no(`Charset ${cs.slice(0, 30)} is not supported`, BADCHARSET);
    }
    const key = parseSearchKeys(args.rest());
    const modseq = someKey(key, (k) => k.op === "modseq");
    // RFC 7162 §3.1: SEARCH MODSEQ is a CONDSTORE enabling command.
    if (modseq) s.enableCondstore();
    const saved = someKey(key, (k) => k.op === "saved") ? savedUids(view) : [];
    // Compiled once: the one-flag test below and the search take the same node.
    const node = compileFor(view, key, saved);
    // RFC 3501 §7.2.5, one flag (SEARCH UNSEEN) or ALL: no list of matches made.
    if (ret === null && !s.rev2 && !modseq && flagSearchLine(s, node, uid)) {
      return { text: "SEARCH completed" };
    }
    const found = await searchPositions(s, key, { saved, node });
    const viewUids = view.uids;
    const uids = found.map((i) => viewUids[i]);
    const nums = () => uid ? uids : found.map((i) => i + 1);
    if (save) saveResult(view, reported(ret, uids));
    // RFC 7162 §3.4: a search with MODSEQ also reports the highest mod-sequence found.
    const top = modseq ? highestModSeq(view, reported(ret, uids)) : null;
    if (ret === null && !s.rev2) {
      const ms = top === null ? "" : ` (MODSEQ ${top})`;
      // Written as bytes: 90,000 hits are about 500 KB of digits (wire.ts numberLine).
      s.out.bytes(numberLine("* SEARCH", uid ? uids : found, uid ? 0 : 1, `${ms}\r\n`));
    } else if (ret === null) {
      // RFC 9051 §7.3.4: IMAP4rev2 answers every SEARCH with ESEARCH.
      s.out.text(esearchResponse(tag, uid, RETURN_ALL, nums(), top));
    } else if (!(save && !ret.min && !ret.max && !ret.count && !ret.all && !ret.partial)) {
      // SAVE with no other result option sends no ESEARCH (RFC 9051 §6.4.4).
      s.out.text(esearchResponse(tag, uid, ret, nums(), top));
    }
    if (ret?.update) {
      openContext(s, { tag, uid, key, saved, criteria: null, fetch: ret.updateFetch }, uids);
    }
  } catch (e) {
    // RFC 9051 §6.4.4.1: a SEARCH with SAVE that fails with NO empties the variable; one
    // that fails with BAD leaves it as it was.
    if (save && !(e instanceof ImapError && e.status === "BAD")) saveResult(view, []);
    throw e;
  }
  return { text: "SEARCH completed" };
}

const searchSpec: CommandSpec = {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  run: (s, { tag, args, uid }) => searchCommand(s, tag, args, uid),
};

export const SEARCH_COMMANDS: Record<string, CommandSpec> = {
  SEARCH: searchSpec,
};
