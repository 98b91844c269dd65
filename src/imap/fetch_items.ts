/**
 * What a FETCH asks for (RFC 3501 §6.4.5, §9; RFC 9051 §6.4.5): the fetch-att items
 * (BODY[section]<partial> and .PEEK, BINARY[...] and BINARY.SIZE from RFC 3516), the
 * ALL/FAST/FULL macros, and the CHANGEDSINCE / VANISHED modifiers (RFC 7162).
 */
import { bad } from "./args.ts";
import { parseModSeq } from "./condstore.ts";
import { formatSection, parseSection, type Section, SectionError } from "./mime/section.ts";
import type { Token } from "./parser.ts";
import { parsePreviewModifiers } from "./preview.ts";
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
  | "RFC822.TEXT"
  /** RFC 8474 §5 (objectid.ts). */
  | "EMAILID"
  | "THREADID"
  | "SAVEDATE";

export type FetchItem =
  | { kind: Simple }
  /** RFC 8970 PREVIEW, with the LAZY modifier or not. */
  | { kind: "PREVIEW"; lazy: boolean }
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
  "EMAILID",
  "THREADID",
  "SAVEDATE",
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
  if (upper === "PREVIEW") return { kind: "PREVIEW", lazy: false };
  // The whole message, as a client reading mail asks for it: no expression, no section parse.
  if (upper === "BODY.PEEK[]" || upper === "BODY[]") {
    const peek = upper.length === 11;
    const section: Section = { part: [], text: "" };
    return {
      kind: "SECTION",
      section,
      peek,
      label: "BODY[]",
      offset: undefined,
      length: undefined,
    };
  }
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
    const out: FetchItem[] = [];
    for (let n = 0; n < t.items.length; n++) {
      const i = t.items[n];
      if (i.kind !== "atom") throw bad("Invalid FETCH item");
      const item = parseFetchAtt(i.value);
      // RFC 8970 §3.2: PREVIEW may be followed by its modifiers, "PREVIEW (LAZY)".
      const next = t.items[n + 1];
      if (item.kind === "PREVIEW" && next?.kind === "list") {
        out.push({ kind: "PREVIEW", ...parsePreviewModifiers(next.items) });
        n++;
      } else out.push(item);
    }
    return out;
  }
  throw bad("Invalid FETCH items");
}

/** Whether the item needs the message file read. */
export function needsBytes(item: FetchItem): boolean {
  return item.kind === "SECTION" || item.kind === "BINARY" || item.kind === "BINARY.SIZE" ||
    item.kind === "RFC822" || item.kind === "RFC822.HEADER" || item.kind === "RFC822.TEXT";
}

/** Whether fetching the item sets \Seen (RFC 3501 §6.4.5: non-PEEK body items). */
export function setsSeen(item: FetchItem): boolean {
  if (item.kind === "RFC822" || item.kind === "RFC822.TEXT") return true;
  return (item.kind === "SECTION" || item.kind === "BINARY") && !item.peek;
}

/** FETCH modifiers (RFC 4466 §2.4): CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6). */
export function parseModifiers(
  s: Session,
  items: Token[],
  byUid: boolean,
): { changedSince: number | undefined; vanished: boolean } {
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
