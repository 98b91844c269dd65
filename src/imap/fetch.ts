/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, RFC 9051 §6.4.5): FLAGS, UID, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial> and .PEEK,
 * BINARY[...] / BINARY.SIZE (RFC 3516), the RFC822 forms and the ALL/FAST/FULL
 * macros; MODSEQ and the CHANGEDSINCE / VANISHED modifiers (RFC 7162). Message data
 * goes out as stored (CRLF); structure comes from the cache. A FETCH of flags, UIDs,
 * sizes or dates reads no message file and streams (flushed per MiB).
 */
import type { MessageEntry } from "../store/folder.ts";
import { bad, formatDateTime, no, parseSequenceSet, resolveRanges } from "./args.ts";
import { defineCommand, SELECTED } from "./command_table.ts";
import { parseModSeq, vanishedEarlier } from "./condstore.ts";
import { decodeBodyBytes } from "./mime/decode.ts";
import {
  formatSection,
  parseSection,
  partial,
  resolvePart,
  type Section,
  sectionBytes,
  SectionError,
} from "./mime/section.ts";
import { MessageData } from "./msgcache.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";

type Simple =
  | "FLAGS"
  | "UID"
  | "MODSEQ"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "ENVELOPE"
  | "BODY"
  | "BODYSTRUCTURE"
  | "RFC822"
  | "RFC822.HEADER"
  | "RFC822.TEXT";

export type FetchItem =
  | { kind: Simple }
  | {
    kind: "SECTION" | "BINARY" | "BINARY.SIZE";
    section: Section;
    peek: boolean;
    /** Label as echoed: "BODY[1.TEXT]" (the origin "<n>" is added when partial). */
    label: string;
    offset?: number;
    length?: number;
  };

const SIMPLE = new Set<string>([
  "FLAGS",
  "UID",
  "MODSEQ",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODY",
  "BODYSTRUCTURE",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
]);
const MACROS: Record<string, Simple[]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
};
const SECTION_ATT =
  /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<(\d+)\.(\d+)>)?$/is;

/** Parses one fetch-att (RFC 3501 §9). */
export function parseFetchAtt(raw: string): FetchItem {
  const upper = raw.toUpperCase();
  if (SIMPLE.has(upper)) return { kind: upper as Simple };
  const m = SECTION_ATT.exec(raw);
  if (!m) throw bad(`Unknown FETCH item ${raw.slice(0, 40)}`);
  const att = m[1].toUpperCase();
  let section: Section;
  try {
    section = parseSection(m[2]);
  } catch (e) {
    if (e instanceof SectionError) throw bad(`Invalid section: ${e.message}`);
    throw e;
  }
  const binary = att.startsWith("BINARY");
  if (binary && section.text !== "") throw bad("BINARY takes part numbers only");
  if (att === "BINARY.SIZE" && m[3] !== undefined) throw bad("BINARY.SIZE takes no partial");
  const offset = m[3] === undefined ? undefined : Number(m[3]);
  const length = m[4] === undefined ? undefined : Number(m[4]);
  const name = att === "BINARY.SIZE" ? "BINARY.SIZE" : binary ? "BINARY" : "BODY";
  return {
    kind: att === "BINARY.SIZE" ? "BINARY.SIZE" : binary ? "BINARY" : "SECTION",
    section,
    peek: att.endsWith(".PEEK") || att === "BINARY.SIZE",
    label: `${name}[${formatSection(section)}]`,
    offset,
    length,
  };
}

/** The items of a FETCH command: a macro, one att, or a list of atts. */
export function parseFetchItems(t: Token): FetchItem[] {
  if (t.kind === "atom") {
    const macro = MACROS[t.value.toUpperCase()];
    if (macro) return macro.map((kind) => ({ kind }));
    return [parseFetchAtt(t.value)];
  }
  if (t.kind === "list") {
    if (t.items.length === 0) throw bad("Empty FETCH item list");
    return t.items.map((i) => {
      if (i.kind !== "atom") throw bad("Invalid FETCH item");
      return parseFetchAtt(i.value);
    });
  }
  throw bad("Invalid FETCH items");
}

function needsBytes(item: FetchItem): boolean {
  return item.kind === "SECTION" || item.kind === "BINARY" || item.kind === "BINARY.SIZE" ||
    item.kind === "RFC822" || item.kind === "RFC822.HEADER" || item.kind === "RFC822.TEXT";
}

function setsSeen(item: FetchItem): boolean {
  if (item.kind === "RFC822" || item.kind === "RFC822.TEXT") return true;
  return (item.kind === "SECTION" || item.kind === "BINARY") && !item.peek;
}

/** Messages fetched ahead of rendering, so file reads overlap. */
const READ_AHEAD = 16;
const READ_AHEAD_BYTES = 4 << 20;
/** Messages handled per batch when no file is read (flag updates are batched too). */
const BATCH = 256;

/** FETCH modifiers (RFC 4466 §2.4): CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6). */
function parseModifiers(s: Session, items: Token[], byUid: boolean) {
  let changedSince: number | undefined;
  let vanished = false;
  for (let i = 0; i < items.length; i++) {
    const t = items[i];
    const name = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (name === "CHANGEDSINCE" && changedSince === undefined) {
      changedSince = parseModSeq(items[++i]);
    } else if (name === "VANISHED" && !vanished) {
      vanished = true;
    } else throw bad(`Invalid FETCH modifier ${name.slice(0, 30) || "(list)"}`);
  }
  if (vanished) {
    if (!byUid) throw bad("VANISHED is only allowed with UID FETCH");
    if (changedSince === undefined) throw bad("VANISHED needs CHANGEDSINCE");
    if (!s.qresync) throw bad("VANISHED needs QRESYNC enabled");
  }
  return { changedSince, vanished };
}

defineCommand("FETCH", {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  async run(s, { args, uid }) {
    const view = s.view!;
    const folder = view.folder;
    const set = args.atom("sequence set");
    const ranges = parseSequenceSet(set);
    const items = parseFetchItems(args.take("FETCH items"));
    const mods = args.more
      ? parseModifiers(s, args.list("FETCH modifiers"), uid)
      : { changedSince: undefined, vanished: false };
    args.end();
    const changedSince = mods.changedSince;
    const askedModseq = items.some((i) => i.kind === "MODSEQ");
    // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE are CONDSTORE enabling commands.
    if (askedModseq || changedSince !== undefined) s.enableCondstore();
    const wantSeen = !view.readOnly && items.some(setsSeen);
    const loadBytes = items.some(needsBytes);
    const loadStructure = items.some((i) =>
      i.kind === "ENVELOPE" || i.kind === "BODY" || i.kind === "BODYSTRUCTURE"
    );
    const needData = loadBytes || loadStructure || items.some((i) => i.kind === "RFC822.SIZE");
    const runs = view.runs(ranges, uid);
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
        const data = needData ? batch.map((b) => new MessageData(folder, b.entry)) : null;
        if (data && (loadBytes || loadStructure)) {
          await Promise.all(
            data.map((d) => loadBytes || !d.parsed ? d.bytes().catch(() => null) : null),
          );
        }
        if (opts.simple) {
          let text = "";
          for (const b of batch) text += renderSimple(s, b.seq, b.uid, b.entry, items, opts);
          s.out.text(text);
          await s.out.maybeFlush();
          continue;
        }
        for (let i = 0; i < batch.length; i++) {
          const b = batch[i];
          try {
            await renderMessage(s, b, data?.[i] ?? null, items, opts, seenNow.has(b.uid));
          } catch (e) {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
            missing++; // expunged while we were reading it
          }
          if (loadBytes) await s.out.maybeFlush();
        }
        await s.out.maybeFlush();
      }
    }
    if (seenChanged) view.notifyOthers();
    if (missing > 0) {
      return { text: "Some messages were expunged meanwhile", code: "EXPUNGEISSUED" };
    }
    return { text: "FETCH completed" };
  },
});

interface RenderOptions {
  byUid: boolean;
  /** MODSEQ goes in every response (asked for, or CHANGEDSINCE). */
  modseq: boolean;
  /** Which items were asked for by name (implied ones are added when they were not). */
  hasUid: boolean;
  hasModseq: boolean;
  hasFlags: boolean;
  /** Only FLAGS, UID and MODSEQ: rendered synchronously (a whole-mailbox flag re-sync). */
  simple: boolean;
}

/** The response of a FETCH of FLAGS, UID and MODSEQ only. */
function renderSimple(
  s: Session,
  seq: number,
  uid: number,
  e: MessageEntry,
  items: FetchItem[],
  opts: RenderOptions,
): string {
  let line = `* ${seq} FETCH (`;
  let first = true;
  if (opts.byUid && !opts.hasUid) {
    line += `UID ${uid}`;
    first = false;
  }
  for (const item of items) {
    line += first ? "" : " ";
    first = false;
    if (item.kind === "UID") line += `UID ${uid}`;
    else if (item.kind === "FLAGS") line += `FLAGS (${s.flagText(uid, e)})`;
    else line += `MODSEQ (${e.modseq})`;
  }
  if (opts.modseq && !opts.hasModseq) line += `${first ? "" : " "}MODSEQ (${e.modseq})`;
  return line + ")\r\n";
}

async function renderMessage(
  s: Session,
  msg: { seq: number; uid: number; entry: MessageEntry },
  d: MessageData | null,
  items: FetchItem[],
  opts: RenderOptions,
  flagsChanged: boolean,
): Promise<void> {
  const { seq, uid, entry } = msg;
  const out = s.out;
  const parts: string[] = [];
  // RFC 3501 §6.4.8: UID FETCH always reports the UID. RFC 7162 §3.1: once CONDSTORE is
  // enabled, a response for an implicit \Seen carries UID and MODSEQ too.
  const implicit = flagsChanged && s.condstore;
  if ((opts.byUid || implicit) && !opts.hasUid) parts.push(`UID ${uid}`);
  let head = `* ${seq} FETCH (`;
  let afterLiteral = false;
  const emit = (text: string) => parts.push(text);
  const emitLiteral = async (label: string, bytes: Uint8Array, binary = false) => {
    // Text items so far, then the literal's bytes as they are.
    parts.push(label);
    const prefix = binary && bytes.includes(0) ? "~" : "";
    out.text(`${head}${afterLiteral ? " " : ""}${parts.join(" ")} ${prefix}{${bytes.length}}\r\n`);
    out.bytes(bytes);
    parts.length = 0;
    head = "";
    afterLiteral = true;
    await out.maybeFlush();
  };
  for (const item of items) {
    switch (item.kind) {
      case "UID":
        emit(`UID ${uid}`);
        break;
      case "FLAGS":
        emit(`FLAGS (${s.flagText(uid, entry)})`);
        break;
      case "MODSEQ":
        emit(`MODSEQ (${entry.modseq})`);
        break;
      case "INTERNALDATE":
        emit(
          `INTERNALDATE ${
            formatDateTime(entry.internalDate ?? await s.view!.folder.internalDate(entry))
          }`,
        );
        break;
      case "RFC822.SIZE":
        emit(`RFC822.SIZE ${d!.size}`);
        break;
      case "ENVELOPE":
        emit(`ENVELOPE ${await d!.envelope(s.utf8)}`);
        break;
      case "BODY":
        emit(`BODY ${await d!.bodyStructure(false, s.utf8)}`);
        break;
      case "BODYSTRUCTURE":
        emit(`BODYSTRUCTURE ${await d!.bodyStructure(true, s.utf8)}`);
        break;
      case "RFC822":
        await emitLiteral("RFC822", await d!.bytes());
        break;
      case "RFC822.HEADER":
        await emitLiteral(
          "RFC822.HEADER",
          sectionBytes(await d!.bytes(), await d!.structure(), { part: [], text: "HEADER" }),
        );
        break;
      case "RFC822.TEXT":
        await emitLiteral(
          "RFC822.TEXT",
          sectionBytes(await d!.bytes(), await d!.structure(), { part: [], text: "TEXT" }),
        );
        break;
      case "SECTION": {
        const bytes = sectionBytes(await d!.bytes(), await d!.structure(), item.section);
        await emitSection(item, bytes, emitLiteral);
        break;
      }
      case "BINARY":
      case "BINARY.SIZE": {
        const bytes = await binaryBytes(d!, item.section);
        if (bytes === null) throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
        if (item.kind === "BINARY.SIZE") emit(`${item.label} ${bytes.length}`);
        else await emitSection(item, bytes, (l, b) => emitLiteral(l, b, true));
        break;
      }
    }
  }
  if ((opts.modseq || implicit) && !opts.hasModseq) {
    emit(`MODSEQ (${entry.modseq})`);
  }
  if (flagsChanged && !opts.hasFlags) {
    emit(`FLAGS (${s.flagText(uid, entry)})`);
  }
  out.text(`${head}${afterLiteral && parts.length ? " " : ""}${parts.join(" ")})\r\n`);
}

async function emitSection(
  item: Extract<FetchItem, { kind: "SECTION" | "BINARY" | "BINARY.SIZE" }>,
  bytes: Uint8Array,
  emitLiteral: (label: string, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  if (item.offset === undefined) return await emitLiteral(item.label, bytes);
  // RFC 3501 §6.4.5 partial: the response names only the origin octet.
  await emitLiteral(`${item.label}<${item.offset}>`, partial(bytes, item.offset, item.length));
}

/** BINARY[part]: the part's body with its transfer encoding undone (RFC 3516 §4.2). */
async function binaryBytes(d: MessageData, section: Section): Promise<Uint8Array | null> {
  const bytes = await d.bytes();
  if (section.part.length === 0) return bytes;
  const part = resolvePart(await d.structure(), section.part);
  if (!part) return new Uint8Array(0);
  if (part.parts || part.message) return bytes.subarray(part.bodyStart, part.bodyEnd);
  const cte = part.encoding.toLowerCase();
  if (!["7bit", "8bit", "binary", "base64", "quoted-printable"].includes(cte)) return null;
  return decodeBodyBytes(bytes, part);
}
