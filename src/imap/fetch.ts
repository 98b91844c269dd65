/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, RFC 9051 §6.4.5): FLAGS, UID, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial> and .PEEK,
 * BINARY[...] / BINARY.SIZE (RFC 3516), the RFC822 forms and the ALL/FAST/FULL
 * macros; MODSEQ and the CHANGEDSINCE / VANISHED modifiers (RFC 7162). Message data
 * goes out as stored (CRLF); structure comes from the cache. A FETCH of flags, UIDs,
 * sizes or dates reads no message file and streams (flushed per MiB).
 *
 * The items are parsed in fetch_items.ts, the responses rendered in fetch_render.ts.
 */
import type { MessageEntry } from "../store/folder/folder.ts";
import { bad, parseSequenceSet, type Range, resolveRanges } from "./args.ts";
import { type CommandSpec, type Done, SELECTED } from "./command_table.ts";
import { vanishedEarlier } from "./condstore.ts";
import {
  type FetchItem,
  needsBytes,
  parseFetchItems,
  parseModifiers,
  setsSeen,
} from "./fetch_items.ts";
import {
  CACHED_KINDS,
  isWholeBody,
  renderCached,
  renderMessage,
  type RenderOptions,
  renderSimple,
  renderWholeInPlace,
} from "./fetch_render.ts";
import { MessageData } from "./msgcache.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import { parsePreviewModifiers } from "./preview.ts";

export { type FetchItem, parseFetchAtt, parseFetchItems } from "./fetch_items.ts";

/** Messages fetched ahead of rendering, so file reads overlap. */
const READ_AHEAD = 16;
const READ_AHEAD_BYTES = 4 << 20;
/** Messages handled per batch when no file is read (flag updates are batched too). */
const BATCH = 256;

const FETCHED: Done = Object.freeze({ text: "FETCH completed" });

const fetchCommand: CommandSpec = {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  run(s, { args, uid }) {
    const set = args.atom("sequence set");
    const single = singleNumber(set);
    const ranges = single > 0 ? [{ from: single, to: single }] : parseSequenceSet(set);
    let items = parseFetchItems(args.take("FETCH items"));
    // RFC 8970 §3.2: "FETCH 1 PREVIEW (LAZY)": that list is PREVIEW's, not modifiers.
    if (items.length === 1 && items[0].kind === "PREVIEW" && isLazyList(args.peek())) {
      items = [{ kind: "PREVIEW", ...parsePreviewModifiers(args.list("PREVIEW modifiers")) }];
    }
    const mods = args.more
      ? parseModifiers(s, args.list("FETCH modifiers"), uid)
      : { changedSince: undefined, vanished: false };
    args.end();
    // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE are CONDSTORE enabling commands.
    if (mods.changedSince !== undefined || items.some((i) => i.kind === "MODSEQ")) {
      s.enableCondstore();
    }
    // One message's BODY[] without \Seen to set (a client reading mail message by
    // message): answered here, without the batches below and their promise.
    if (
      single > 0 && items.length === 1 && !mods.vanished && mods.changedSince === undefined &&
      !s.conn.closed
    ) {
      const view = s.view!;
      // As runs(): a sequence number past EXISTS is a client error (RFC 3501 §9).
      if (!uid && single > view.exists) throw bad("Invalid message sequence number");
      const at = uid ? view.seqOf(single) - 1 : single - 1;
      if (at >= 0 && fetchOneInPlace(s, at, items[0], uid)) return FETCHED;
    }
    return fetchRuns(s, uid, ranges, s.view!.runs(ranges, uid), items, mods);
  },
};

/**
 * The number when a sequence set is one plain number (no "*", range or list), else 0:
 * such a set needs no parse into ranges and no runs.
 */
function singleNumber(set: string): number {
  if (set.length === 0 || set.length > 10 || set.charCodeAt(0) === 0x30) return 0;
  let n = 0;
  for (let i = 0; i < set.length; i++) {
    const c = set.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return 0;
    n = n * 10 + (c - 0x30);
  }
  return n <= 0xffffffff ? n : 0;
}

/** The options of a lone body item (no UID, FLAGS or MODSEQ item), by FETCH and UID FETCH. */
const BODY_ONLY: RenderOptions = Object.freeze({
  byUid: false,
  modseq: false,
  hasUid: false,
  hasModseq: false,
  hasFlags: false,
  simple: false,
});
const BODY_ONLY_BY_UID: RenderOptions = Object.freeze({ ...BODY_ONLY, byUid: true });

/**
 * FETCH BODY[] or BODY.PEEK[] of the message at position `at` read in place
 * (renderWholeInPlace) when that needs nothing else: not a BODY[] that sets \Seen, the
 * message still there. False, with nothing queued, otherwise.
 */
function fetchOneInPlace(s: Session, at: number, item: FetchItem, uid: boolean): boolean {
  const view = s.view!;
  if (!isWholeBody(item) || !("label" in item) || (!view.readOnly && setsSeen(item))) {
    return false;
  }
  const u = view.uids[at];
  const entry = view.entry(u);
  if (!entry) return false;
  const msg = { seq: at + 1, uid: u, entry };
  const opts = uid ? BODY_ONLY_BY_UID : BODY_ONLY;
  return renderWholeInPlace(s, msg, new MessageData(view.folder, entry), item.label, opts);
}

async function fetchRuns(
  s: Session,
  uid: boolean,
  ranges: Range[],
  runs: [number, number][],
  items: FetchItem[],
  mods: { changedSince: number | undefined; vanished: boolean },
): Promise<Done> {
  const view = s.view!;
  const folder = view.folder;
  const changedSince = mods.changedSince;
  const askedModseq = items.some((i) => i.kind === "MODSEQ");
  const wantSeen = !view.readOnly && items.some(setsSeen);
  const loadBytes = items.some(needsBytes);
  const loadStructure = items.some((i) =>
    i.kind === "ENVELOPE" || i.kind === "BODY" || i.kind === "BODYSTRUCTURE"
  );
  const needData = loadBytes || loadStructure || items.some((i) => i.kind === "RFC822.SIZE");
  if (mods.vanished) {
    // RFC 7162 §3.2.6: expunged UIDs of the set since CHANGEDSINCE, before the FETCHes.
    const top = Math.max(1, folder.uidNext - 1);
    const gone = vanishedEarlier(folder, changedSince!, resolveRanges(ranges, top));
    if (gone) s.out.text(`* VANISHED (EARLIER) ${gone}\r\n`);
  }
  const has = (kind: string) => items.some((i) => i.kind === kind);
  const opts: RenderOptions = {
    byUid: uid,
    // CHANGEDSINCE implies MODSEQ in the responses (RFC 7162 §3.1.4.1).
    modseq: askedModseq || changedSince !== undefined,
    hasUid: has("UID"),
    hasModseq: askedModseq,
    hasFlags: has("FLAGS"),
    simple: !wantSeen && items.every((i) => ["FLAGS", "UID", "MODSEQ"].includes(i.kind)),
  };
  // Only items known without the message file (renderCached), and no implicit \Seen.
  const cachedOnly = !wantSeen && items.every((i) => CACHED_KINDS.has(i.kind));
  // The label of a lone BODY[] / BODY.PEEK[] (renderWholeInPlace), else "".
  const wholeBody = items.length === 1 && isWholeBody(items[0]) && "label" in items[0]
    ? items[0].label
    : "";
  let missing = 0;
  let seenChanged = false;
  for (const [first, last] of runs) {
    for (let start = first; start <= last && !s.conn.closed;) {
      // A batch: bounded in count, and in bytes when files are read (reads overlap).
      const batch: { seq: number; uid: number; entry: MessageEntry }[] = [];
      let bytes = 0;
      const limit = loadBytes ? READ_AHEAD : BATCH;
      for (; start <= last && batch.length < limit && bytes < READ_AHEAD_BYTES; start++) {
        const u = view.uids[start];
        const entry = view.entry(u);
        if (!entry) {
          missing++; // expunged by another session, not yet reported
          continue;
        }
        if (changedSince !== undefined && entry.modseq <= changedSince) continue;
        batch.push({ seq: start + 1, uid: u, entry });
        if (loadBytes) bytes += entry.size;
      }
      if (batch.length === 0) continue;
      // Non-PEEK body fetches set \Seen (RFC 3501 §6.4.5), one batch at a time.
      let seenNow = new Set<number>();
      if (wantSeen) {
        const unseen = batch.filter((b) => !b.entry.flags.includes("S")).map((b) => b.uid);
        if (unseen.length > 0) {
          const r = await folder.updateFlags(
            unseen,
            (e) => e.flags.includes("S") ? null : e.flags + "S",
          );
          for (const e of r.changed) view.noteFlags(e.uid, e.modseq);
          seenNow = new Set(r.changed.map((e) => e.uid));
          if (r.changed.length) seenChanged = true;
        }
      }
      // Keywords another session added are announced first (RFC 3501 §7.2.6).
      if (opts.hasFlags || wantSeen) s.out.text(view.announceKeywords());
      // One message's BODY[] (a client fetching messages one by one): read in place.
      if (
        wholeBody && batch.length === 1 && !seenNow.has(batch[0].uid) &&
        renderWholeInPlace(s, batch[0], new MessageData(folder, batch[0].entry), wholeBody, opts)
      ) {
        if (s.out.full) await s.out.flush();
        continue;
      }
      const data = needData ? batch.map((b) => new MessageData(folder, b.entry)) : null;
      if (data && (loadBytes || loadStructure)) {
        // Large messages are not read ahead: what is asked of them comes from the file.
        const wanted = data.filter((d) => !d.large && (loadBytes || !d.parsed));
        // One message (a client fetching them one by one) gains nothing from reading
        // ahead: a small one is read at once, without the async read's thread hop.
        if (wanted.length === 1 && wanted[0].bytesNow()) wanted.length = 0;
        if (wanted.length > 0) await Promise.all(wanted.map((d) => d.bytes().catch(() => null)));
      }
      if (opts.simple) {
        let text = "";
        for (const b of batch) text += renderSimple(s, b.seq, b.uid, b.entry, items, opts);
        s.out.text(text);
        if (s.out.full) await s.out.flush();
        continue;
      }
      // Metadata of messages whose structure is cached: one synchronous string each.
      let cachedText = "";
      for (let i = 0; i < batch.length; i++) {
        const b = batch[i];
        const text = cachedOnly && data
          ? renderCached(s, b.seq, b.uid, b.entry, data[i], items, opts)
          : null;
        if (text !== null) {
          cachedText += text;
          continue;
        }
        if (cachedText) {
          s.out.text(cachedText);
          cachedText = "";
        }
        try {
          await renderMessage(s, b, data?.[i] ?? null, items, opts, seenNow.has(b.uid));
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          missing++; // expunged while we were reading it
        }
      }
      if (cachedText) s.out.text(cachedText);
      if (s.out.full) await s.out.flush();
    }
  }
  if (seenChanged) view.notifyOthers();
  if (missing > 0) {
    return { text: "Some messages were expunged meanwhile", code: "EXPUNGEISSUED" };
  }
  return FETCHED;
}

function isLazyList(t: Token | undefined): boolean {
  return t?.kind === "list" && t.items.length > 0 &&
    t.items.every((i) => i.kind === "atom" && i.value.toUpperCase() === "LAZY");
}

export const FETCH_COMMANDS: Record<string, CommandSpec> = {
  FETCH: fetchCommand,
};
