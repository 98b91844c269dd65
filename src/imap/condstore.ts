/**
 * RFC 7162 helpers shared by SELECT, FETCH, STORE and STATUS: mod-sequence values, the
 * SELECT/EXAMINE parameters (CONDSTORE, QRESYNC) and QRESYNC's resynchronization
 * responses (VANISHED (EARLIER) and FETCH of what changed).
 */
import type { Folder } from "../store/folder/folder.ts";
import {
  bad,
  formatSet,
  inRanges,
  mergeRanges,
  parseNumber,
  parseSequenceSet,
  type Range,
} from "./args.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import type { MailboxView } from "./view.ts";

/** mod-sequence-valzer (RFC 7162 §7): 0 to 2^63-1, as a number (ours stay far below 2^53). */
export function parseModSeq(t: Token | undefined, what = "mod-sequence"): number {
  const v = t?.kind === "atom" ? t.value : "";
  if (!/^\d{1,19}$/.test(v) || BigInt(v) > 0x7fffffffffffffffn) {
    throw bad(`Invalid ${what}: ${v.slice(0, 30)}`);
  }
  return Number(v);
}

export interface QresyncParams {
  uidValidity: number;
  modseq: number;
  /** UIDs the client knows (null: all). */
  knownUids: Range[] | null;
}

export interface SelectParams {
  condstore: boolean;
  qresync: QresyncParams | null;
}

function uidSet(t: Token | undefined, what: string): Range[] {
  if (!t || t.kind !== "atom" || t.value.includes("*")) throw bad(`Invalid ${what}`);
  return parseSequenceSet(t.value);
}

/** select-param list of SELECT/EXAMINE (RFC 4466 §2.1, RFC 7162 §3.1.8, §3.2.5). */
export function parseSelectParams(s: Session, items: Token[]): SelectParams {
  const out: SelectParams = { condstore: false, qresync: null };
  const seen = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    const t = items[i];
    const name = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (seen.has(name)) throw bad(`Duplicate SELECT parameter ${name}`);
    seen.add(name);
    if (name === "CONDSTORE") {
      out.condstore = true;
    } else if (name === "QRESYNC") {
      const arg = items[++i];
      if (!arg || arg.kind !== "list" || arg.items.length < 2 || arg.items.length > 4) {
        throw bad("QRESYNC expects (uidvalidity modseq [known-uids [seq-match-data]])");
      }
      const [uv, ms, known, match] = arg.items;
      const uidValidity = parseNumber(uv?.kind === "atom" ? uv.value : "", "UIDVALIDITY");
      const modseq = parseModSeq(ms);
      if (uidValidity === 0 || modseq === 0) throw bad("QRESYNC values must not be zero");
      // Sorted and merged once: inRanges searches them per expunged UID.
      const knownUids = known ? mergeRanges(uidSet(known, "known UIDs")) : null;
      if (match) {
        // seq-match-data is checked but not used (RFC 7162 §3.2.5.2 allows that).
        if (match.kind !== "list" || match.items.length !== 2) {
          throw bad("Invalid QRESYNC sequence match data");
        }
        const seqs = uidSet(match.items[0], "sequence match data");
        const uids = uidSet(match.items[1], "sequence match data");
        const count = (rs: Range[]) => rs.reduce((n, r) => n + r.to - r.from + 1, 0);
        if (count(seqs) !== count(uids)) throw bad("Sequence match sets differ in length");
      }
      if (!s.qresync) throw bad("QRESYNC must be enabled first (ENABLE QRESYNC)");
      out.qresync = { uidValidity, modseq, knownUids };
    } else {
      throw bad(`Unknown SELECT parameter ${name.slice(0, 30) || "(list)"}`);
    }
  }
  return out;
}

/**
 * UIDs expunged after `since` among `within` (RFC 7162 VANISHED (EARLIER)). When the
 * index no longer knows that far back, every UID below UIDNEXT that is not in the
 * folder (RFC 7162 §3.2.5.1 lets the server include UIDs the client never saw).
 */
export function vanishedEarlier(folder: Folder, since: number, within: Range[] | null): string {
  const known = folder.vanishedSince(since);
  if (known !== null) {
    const uids = known.filter((u) => (!within || inRanges(within, u)) && !folder.messages.has(u));
    return uids.length ? formatSet(uids) : "";
  }
  // The gaps between present UIDs below UIDNEXT, clipped to `within`.
  const { uids: present, count } = folder.uidSnapshot();
  const top = folder.uidNext - 1;
  const gaps: [number, number][] = [];
  let next = 1;
  for (let i = 0; i <= count && next <= top; i++) {
    const u = i < count ? present[i] : top + 1;
    if (u > next) gaps.push([next, Math.min(u - 1, top)]);
    next = u + 1;
  }
  const parts: string[] = [];
  const clip = within ? [...within].sort((a, b) => a.from - b.from) : [{ from: 1, to: top }];
  for (const [a, b] of gaps) {
    for (const r of clip) {
      const from = Math.max(a, r.from), to = Math.min(b, r.to);
      if (from <= to) parts.push(from === to ? `${from}` : `${from}:${to}`);
    }
  }
  return parts.join(",");
}

/**
 * After SELECT (QRESYNC ...) with a matching UIDVALIDITY: what vanished and what
 * changed since the client's mod-sequence (RFC 7162 §3.2.5).
 */
export function qresyncResponses(s: Session, view: MailboxView, p: QresyncParams): string {
  const folder = view.folder;
  if (p.uidValidity !== folder.uidValidity) return "";
  let out = "";
  const gone = vanishedEarlier(folder, p.modseq, p.knownUids);
  if (gone) out += `* VANISHED (EARLIER) ${gone}\r\n`;
  for (let i = 0; i < view.exists; i++) {
    const uid = view.uids[i];
    if (p.knownUids && !inRanges(p.knownUids, uid)) continue;
    const m = view.entry(uid);
    if (!m || m.modseq <= p.modseq) continue;
    out += `* ${i + 1} FETCH (UID ${uid} FLAGS (${s.flagText(uid, m)}) MODSEQ (${m.modseq}))\r\n`;
  }
  return out;
}
