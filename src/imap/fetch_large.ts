/**
 * FETCH of a large message (over STREAM_ABOVE, SPEC §7): the message (RFC822, BODY[]),
 * its text and its parts are sent from the file in chunks as the client takes them;
 * the header (RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS ...]) is read alone. Part
 * sections use the structure, parsed once and cached. BINARY (decoded content) and the
 * header fields of a part take the whole-message path.
 */
import { parseMessage } from "../message/mime.ts";
import { partial, type Section, sectionBytes, sectionRange } from "../message/section.ts";
import type { FetchItem } from "./fetch_items.ts";
import type { MessageData } from "./msgcache.ts";

/** A section as bytes in memory (header items), or a range of the file to send. */
export type LargeSection =
  | { label: string; bytes: Uint8Array }
  | { label: string; start: number; end: number };

/** How to serve `item` of a large message; null for the whole-message path. */
export async function largeSection(
  d: MessageData,
  item: FetchItem,
): Promise<LargeSection | null> {
  let section: Section;
  let label: string;
  let offset: number | undefined, length: number | undefined;
  switch (item.kind) {
    case "RFC822":
      [section, label] = [{ part: [], text: "" }, "RFC822"];
      break;
    case "RFC822.HEADER":
      [section, label] = [{ part: [], text: "HEADER" }, "RFC822.HEADER"];
      break;
    case "RFC822.TEXT":
      [section, label] = [{ part: [], text: "TEXT" }, "RFC822.TEXT"];
      break;
    case "SECTION":
      [section, label, offset, length] = [item.section, item.label, item.offset, item.length];
      break;
    default:
      return null;
  }
  const head = await d.fileHead();
  if (!head) return null;
  // RFC 3501 §6.4.5 partial: the response names only the origin octet.
  if (offset !== undefined) label = `${label}<${offset}>`;
  let range: { start: number; end: number } | null;
  if (section.part.length === 0 && section.text !== "" && section.text !== "TEXT") {
    const header = head.bytes.subarray(0, head.bodyStart);
    const bytes = sectionBytes(header, parseMessage(header), section);
    return { label, bytes: offset === undefined ? bytes : partial(bytes, offset, length) };
  } else if (section.part.length === 0) {
    range = { start: section.text === "TEXT" ? head.bodyStart : 0, end: d.size };
  } else {
    range = sectionRange(await d.structure(), section);
    if (!range) return null;
  }
  if (offset === undefined) return { label, ...range };
  const start = Math.min(range.end, range.start + offset);
  const end = length === undefined ? range.end : Math.min(range.end, start + length);
  return { label, start, end };
}
