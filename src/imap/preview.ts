/**
 * FETCH PREVIEW and PREVIEW (LAZY) (RFC 8970) and FETCH SAVEDATE (RFC 8514 §4.1). The
 * preview text comes from src/message/preview_text.ts and is cached by message base
 * name (a message's bytes never change), so a client that shows previews in its list
 * asks the file once. With LAZY (§3.2) a preview not yet known is answered NIL at once
 * and computed in the background, for the client's next FETCH.
 */
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { previewText } from "../message/preview_text.ts";
import { bad, formatDateTime } from "./args.ts";
import { MessageData } from "./msgcache.ts";
import type { Token } from "./parser.ts";
import { string } from "./wire.ts";

/** Previews kept in memory (oldest dropped first): at most 256 characters each, ~25 MB. */
const MAX_CACHED = 50_000;
/** LAZY previews computed in the background at once, at most. */
const MAX_BACKGROUND = 64;
const cache = new Map<string, string>();
let background = 0;

function remember(base: string, text: string): void {
  if (cache.size >= MAX_CACHED) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(base, text);
}

async function compute(entry: MessageEntry, d: MessageData): Promise<string> {
  const text = previewText(await d.bytes(), await d.structure());
  remember(entry.base, text);
  return text;
}

/** PREVIEW's modifiers (RFC 8970 §3.2 preview-mod): LAZY is the only one. */
export function parsePreviewModifiers(items: Token[]): { lazy: boolean } {
  if (items.length === 0) throw bad("Empty PREVIEW modifier list");
  for (const t of items) {
    if (t.kind !== "atom" || t.value.toUpperCase() !== "LAZY") {
      throw bad("Unknown PREVIEW modifier");
    }
  }
  return { lazy: true };
}

/** The PREVIEW item's value: a string, or NIL when LAZY and not yet known. */
export async function previewValue(
  folder: Folder,
  entry: MessageEntry,
  d: MessageData | null,
  lazy: boolean,
  utf8: boolean,
): Promise<string> {
  const known = cache.get(entry.base);
  if (known !== undefined) return string(known, { utf8 });
  const data = d ?? new MessageData(folder, entry);
  if (lazy) {
    if (background < MAX_BACKGROUND) {
      background++;
      compute(entry, data).catch(() => {}).finally(() => background--);
    }
    return "NIL";
  }
  return string(await compute(entry, data), { utf8 });
}

/** The SAVEDATE item's value (RFC 8514 §4.1). */
export function saveDateValue(folder: Folder, entry: MessageEntry): string {
  return formatDateTime(folder.saveDate(entry));
}

/** Test hook: forget the cached previews. */
export function clearPreviewCache(): void {
  cache.clear();
}
