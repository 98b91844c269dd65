/**
 * Keyword letters per folder, in Dovecot's `dovecot-keywords` format ("<index> <name>"
 * per line, index 0 = letter a), so Dovecot and we read each other's keyword flags.
 */
import { join } from "node:path";
import { readTextIfExistsSync, writeFileAtomic } from "../fsutil.ts";

const FILE = "dovecot-keywords";

/** The keyword names by letter (a small file read as a folder loads: synchronously). */
export function readKeywords(folderPath: string): Promise<string[]> {
  return Promise.try(() => parseKeywords(readTextIfExistsSync(join(folderPath, FILE))));
}

function parseKeywords(text: string | null): string[] {
  if (text === null) return [];
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+) (\S+)$/.exec(line.trim());
    if (m && Number(m[1]) < 26) out[Number(m[1])] = m[2];
  }
  return out;
}

export async function writeKeywords(folderPath: string, keywords: string[]): Promise<void> {
  const text = keywords.map((k, i) => (k ? `${i} ${k}\n` : "")).join("");
  await writeFileAtomic(join(folderPath, FILE), text);
}
