/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, RFC 9051 §6.4.5): FLAGS, UID, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial> and .PEEK,
 * BINARY[...] / BINARY.SIZE (RFC 3516), the RFC822 forms and the ALL/FAST/FULL
 * macros. Message data goes out as stored (CRLF); structure comes from the cache.
 */
import { bad, formatDateTime, no, parseSequenceSet } from "./args.ts";
import { defineCommand, SELECTED } from "./command_table.ts";
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

defineCommand("FETCH", {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  async run(s, { args, uid }) {
    const view = s.view!;
    const ranges = parseSequenceSet(args.atom("sequence set"));
    const items = parseFetchItems(args.take("FETCH items"));
    if (args.more) throw bad("FETCH modifiers are not supported"); // RFC 7162 CHANGEDSINCE
    const wantSeen = !view.readOnly && items.some(setsSeen);
    const loadBytes = items.some(needsBytes);
    const loadStructure = items.some((i) =>
      i.kind === "ENVELOPE" || i.kind === "BODY" || i.kind === "BODYSTRUCTURE"
    );
    const picked = view.select(ranges, uid);
    let missing = 0;
    let seenChanged = false;
    for (let start = 0, end = 0; start < picked.length && !s.conn.closed; start = end) {
      // Read ahead a few messages (bounded in count and bytes) so file reads overlap.
      let bytes = 0;
      for (
        end = start;
        end < picked.length && end - start < READ_AHEAD && bytes < READ_AHEAD_BYTES;
      ) {
        bytes += view.entry(picked[end++][1])?.size ?? 0;
      }
      const batch = picked.slice(start, end);
      const data = batch.map(([, u]) => {
        const e = view.entry(u);
        return e ? new MessageData(view.folder, e) : null;
      });
      if (loadBytes || loadStructure) {
        await Promise.all(
          data.map((d) => d && (loadBytes || !d.parsed) ? d.bytes().catch(() => null) : null),
        );
      }
      for (let i = 0; i < batch.length; i++) {
        const [seq, u] = batch[i];
        const d = data[i];
        if (!d) {
          missing++;
          continue;
        }
        let flagsChanged = false;
        if (wantSeen && !d.entry.flags.includes("S")) {
          if (await view.folder.setFlags(u, d.entry.flags + "S")) {
            flagsChanged = seenChanged = true;
            view.noteFlags(u, view.folder.messages.get(u)?.flags ?? d.entry.flags);
          }
        }
        try {
          await renderMessage(s, seq, u, d, items, uid, flagsChanged);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          missing++; // expunged while we were reading it
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

async function renderMessage(
  s: Session,
  seq: number,
  uid: number,
  d: MessageData,
  items: FetchItem[],
  byUid: boolean,
  flagsChanged: boolean,
): Promise<void> {
  const out = s.out;
  const parts: string[] = [];
  // RFC 3501 §6.4.8: UID FETCH always reports the UID.
  if (byUid && !items.some((i) => i.kind === "UID")) parts.push(`UID ${uid}`);
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
        emit(`FLAGS (${s.flagText(uid, d.entry)})`);
        break;
      case "INTERNALDATE":
        emit(`INTERNALDATE ${formatDateTime(await d.folder.internalDate(d.entry))}`);
        break;
      case "RFC822.SIZE":
        emit(`RFC822.SIZE ${d.size}`);
        break;
      case "ENVELOPE":
        emit(`ENVELOPE ${await d.envelope(s.utf8)}`);
        break;
      case "BODY":
        emit(`BODY ${await d.bodyStructure(false, s.utf8)}`);
        break;
      case "BODYSTRUCTURE":
        emit(`BODYSTRUCTURE ${await d.bodyStructure(true, s.utf8)}`);
        break;
      case "RFC822":
        await emitLiteral("RFC822", await d.bytes());
        break;
      case "RFC822.HEADER":
        await emitLiteral(
          "RFC822.HEADER",
          sectionBytes(await d.bytes(), await d.structure(), { part: [], text: "HEADER" }),
        );
        break;
      case "RFC822.TEXT":
        await emitLiteral(
          "RFC822.TEXT",
          sectionBytes(await d.bytes(), await d.structure(), { part: [], text: "TEXT" }),
        );
        break;
      case "SECTION": {
        const bytes = sectionBytes(await d.bytes(), await d.structure(), item.section);
        await emitSection(item, bytes, emitLiteral);
        break;
      }
      case "BINARY":
      case "BINARY.SIZE": {
        const bytes = await binaryBytes(d, item.section);
        if (bytes === null) throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
        if (item.kind === "BINARY.SIZE") emit(`${item.label} ${bytes.length}`);
        else await emitSection(item, bytes, (l, b) => emitLiteral(l, b, true));
        break;
      }
    }
  }
  if (flagsChanged && !items.some((i) => i.kind === "FLAGS")) {
    emit(`FLAGS (${s.flagText(uid, d.entry)})`);
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
