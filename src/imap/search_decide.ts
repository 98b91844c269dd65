/**
 * A SEARCH decided for the whole view at once, before any message is looked at, from
 * what is known without a message's entry or file: the folder's columns (flag letters,
 * sizes and mod-sequences: no MessageEntry is made, store/folder/columns.ts) and the
 * full-text index's answers to BODY/TEXT keys (src/store/fts/). Each key becomes one
 * value per message, true, false or unknown, combined through NOT/OR/AND in three-valued
 * logic, so only the unknown messages are evaluated one by one (search.ts). A BODY search
 * of a common word over 100,000 indexed messages then reads no entry and makes no object
 * per message (after a restart the entries are not even loaded from the folder index),
 * and SEARCH ALL, LARGER, SMALLER, MODSEQ, dates and flag combinations make no entry either.
 *
 * Keys answered here need nothing of a message but its position, UID, flag letters, size,
 * mod-sequence or internal date when known (sequence and UID sets, flags, \Recent,
 * LARGER/SMALLER, MODSEQ, BEFORE/ON/SINCE, YOUNGER/OLDER); every other key is unknown, and
 * decides nothing unless the rest of its AND/OR does.
 */
import { inRanges } from "./args.ts";
import { compareDay, dayOf, type Node } from "./search_eval.ts";
import type { TextAnswer } from "../store/fts/answer.ts";
import type { MailboxView } from "./view.ts";

export const NO = 0, YES = 1, UNKNOWN = 2;

type Answers = Record<"BODY" | "TEXT", Map<string, TextAnswer>>;

/**
 * NO, YES or UNKNOWN for the messages at `positions` (0-based, ascending; all of the view
 * when null), or null when there is nothing to gain over evaluating each message: the key
 * has a key the columns cannot answer and no BODY/TEXT key the index answered.
 */
export function decideWithoutEntries(
  node: Node,
  view: MailboxView,
  answers: Answers | null,
  positions: readonly number[] | null,
): Uint8Array | null {
  const indexed = answers !== null && answersSome(node, answers);
  if (!indexed && !columnar(node)) return null;
  const at = positions ?? null;
  const n = at ? at.length : view.uids.length;
  return decide(node, { view, answers, at, n });
}

interface Scope {
  view: MailboxView;
  answers: Answers | null;
  at: readonly number[] | null;
  n: number;
}

function answersSome(node: Node, answers: Answers): boolean {
  switch (node.op) {
    case "text":
      return answers[node.which].has(node.needle);
    case "not":
      return answersSome(node.node, answers);
    case "or":
      return answersSome(node.a, answers) || answersSome(node.b, answers);
    case "and":
      return node.nodes.some((x) => answersSome(x, answers));
    default:
      return false;
  }
}

/** Whether every key of `node` is one the columns answer (see decide). */
function columnar(node: Node): boolean {
  switch (node.op) {
    case "const":
    case "seq":
    case "uid":
    case "uids":
    case "recent":
    case "flag":
    case "new":
    case "size":
    case "modseq":
    case "date":
    case "within":
      return true;
    case "not":
      return columnar(node.node);
    case "or":
      return columnar(node.a) && columnar(node.b);
    case "and":
      return node.nodes.every(columnar);
    default:
      return false;
  }
}

function filled(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}

function decide(node: Node, s: Scope): Uint8Array {
  const { view, at, n } = s;
  const uids = view.uids, snap = view.snapshot;
  const pos = (j: number) => at ? at[j] : j;
  switch (node.op) {
    case "const":
      return filled(n, node.value ? YES : NO);
    case "text": {
      const a = s.answers?.[node.which].get(node.needle);
      if (!a) return filled(n, UNKNOWN);
      const out = new Uint8Array(n);
      a.fill(uids, at, out);
      return out;
    }
    case "seq":
    case "uid": {
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        const i = pos(j);
        out[j] = inRanges(node.ranges, node.op === "seq" ? i + 1 : uids[i]) ? YES : NO;
      }
      return out;
    }
    case "uids": {
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) out[j] = node.set.has(uids[pos(j)]) ? YES : NO;
      return out;
    }
    case "recent": {
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) out[j] = view.recent.has(uids[pos(j)]) === node.set ? YES : NO;
      return out;
    }
    case "flag":
    case "new": {
      // Flag letters without reading entries (Folder.flagsAt); expunged: decided later.
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        const i = pos(j);
        const flags = view.flagsAt(i);
        if (flags === undefined) out[j] = UNKNOWN;
        else if (node.op === "flag") out[j] = flags.includes(node.letter) === node.set ? YES : NO;
        else out[j] = view.recent.has(uids[i]) && !flags.includes("S") ? YES : NO;
      }
      return out;
    }
    case "size": {
      // The column holds the file's size; RFC822.SIZE is the size served (msgcache.ts),
      // which differs only for a file with bare LFs, served with CRLF: larger, at most
      // twice the file's. So the file's size decides unless the size served could fall on
      // either side of the limit (or the size is not known): those are evaluated alone.
      const out = new Uint8Array(n);
      const limit = node.n, larger = node.cmp === "larger";
      for (let j = 0; j < n; j++) {
        const size = view.folder.sizeAt(snap, pos(j));
        if (size === undefined || !(size >= 0)) out[j] = UNKNOWN; // expunged: decided later
        else if (larger) out[j] = size > limit ? YES : 2 * size <= limit ? NO : UNKNOWN;
        else out[j] = size >= limit ? NO : 2 * size < limit ? YES : UNKNOWN;
      }
      return out;
    }
    case "modseq": {
      // Mod-sequences are below 2^53 (numbers in the columns); a larger MODSEQ matches none.
      const out = new Uint8Array(n);
      const min = node.min > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(node.min);
      for (let j = 0; j < n; j++) {
        const m = view.folder.modseqAt(snap, pos(j));
        out[j] = m === undefined ? UNKNOWN : m >= min ? YES : NO;
      }
      return out;
    }
    case "date":
    case "within": {
      // Internal dates the folder knows (read once per file, then kept in its index);
      // one not known yet is looked up as the message is evaluated alone.
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        const t = view.folder.dateAt(snap, pos(j));
        if (t === undefined || t === null) out[j] = UNKNOWN;
        else if (node.op === "date") out[j] = compareDay(node.cmp, dayOf(t), node.day) ? YES : NO;
        else out[j] = (node.cmp === "younger" ? t > node.limit : t <= node.limit) ? YES : NO;
      }
      return out;
    }
    case "not": {
      const out = decide(node.node, s);
      for (let j = 0; j < n; j++) if (out[j] !== UNKNOWN) out[j] ^= 1;
      return out;
    }
    case "or":
      return combine([node.a, node.b], s, YES);
    case "and":
      return combine(node.nodes, s, NO);
    default:
      return filled(n, UNKNOWN);
  }
}

/**
 * AND (`dominant` NO) or OR (`dominant` YES): the dominant value wins, then UNKNOWN, then
 * the other value. Keys are taken in turn; a message decided already is not changed.
 */
function combine(nodes: Node[], s: Scope, dominant: number): Uint8Array {
  const out = filled(s.n, dominant ^ 1);
  for (const node of nodes) {
    const v = decide(node, s);
    for (let j = 0; j < s.n; j++) {
      const x = v[j];
      if (x === dominant) out[j] = dominant;
      else if (x === UNKNOWN && out[j] !== dominant) out[j] = UNKNOWN;
    }
  }
  return out;
}
