/**
 * Subscription files of other IMAP servers, turned into our mailbox names (UTF-8,
 * "/" hierarchy delimiter, as src/imap/subscriptions.ts keeps them):
 *
 * - Dovecot 2.x `subscriptions`: a `V\t2` line, an empty line, then one name per line
 *   with the hierarchy levels separated by TAB.
 * - Dovecot 1.x `subscriptions` (no version line): one name per line with the
 *   namespace's separator, "." or "/".
 * - Courier `courierimapsubscribed`: one name per line, "INBOX." prefixed, "." separated.
 *
 * Names are in modified UTF-7 (RFC 3501 5.1.3) as the client sent them; a level that is
 * not valid modified UTF-7 is kept as it is (a server that stored UTF-8).
 */
import { decodeMutf7 } from "../store/mutf7.ts";

function decodeLevel(level: string): string {
  if (!level.includes("&")) return level;
  try {
    return decodeMutf7(level);
  } catch {
    return level;
  }
}

function joinLevels(levels: string[]): string | null {
  if (levels.length === 0 || levels.some((l) => l === "")) return null;
  const name = levels.map(decodeLevel).join("/");
  return name.toUpperCase() === "INBOX" ? "INBOX" : name;
}

/**
 * Dovecot's `subscriptions` file. With version 1 files the separator is guessed per
 * line: "/" when the name has one, else "." when splitting there names a known folder.
 */
export function parseDovecotSubscriptions(text: string, knownFolders: readonly string[]): string[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const out: string[] = [];
  const add = (name: string | null) => {
    if (name !== null && !out.includes(name)) out.push(name);
  };
  if (/^V\t\d+$/.test(lines[0] ?? "")) {
    for (const line of lines.slice(1)) if (line !== "") add(joinLevels(line.split("\t")));
    return out;
  }
  for (const line of lines) {
    if (line === "") continue;
    if (line.includes("/")) add(joinLevels(line.split("/")));
    else {
      const dotted = joinLevels(line.split("."));
      add(dotted !== null && knownFolders.includes(dotted) ? dotted : joinLevels([line]));
    }
  }
  return out;
}

/** Courier's `courierimapsubscribed`: "INBOX.a.b" is our "a/b". */
export function parseCourierSubscriptions(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "") continue;
    const levels = line.split(".");
    if (levels[0].toUpperCase() === "INBOX" && levels.length > 1) levels.shift();
    const name = joinLevels(levels);
    if (name !== null && !out.includes(name)) out.push(name);
  }
  return out;
}
