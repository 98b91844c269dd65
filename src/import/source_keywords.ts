/**
 * Keywords of other IMAP servers' Maildirs, and the flags of a Maildir file name:
 *
 * - Maildir info (cr.yp.to/proto/maildir.html): `<base>:2,<letters>`; D=\Draft
 *   F=\Flagged R=\Answered S=\Seen T=\Deleted (P "passed" has no IMAP flag). Dovecot
 *   keeps keywords as letters a-z and may add `,<fields>` after the letters, which
 *   carry no flags.
 * - Dovecot `dovecot-keywords`: `<index> <name>` lines, index 0 = letter a.
 * - Courier `courierimapkeywords/`: the file `:list` holds the keyword names, one per
 *   line, an empty line, then `<base name>:<index> <index>...` lines; changes made since
 *   the list was written are files in the same directory named `<base name>` or
 *   `.<n>.<base name>`, each holding the message's keyword names one per line. A file
 *   named by the base name alone wins, else the one with the highest n.
 */

const SYSTEM: Readonly<Record<string, string>> = {
  D: "\\Draft",
  F: "\\Flagged",
  R: "\\Answered",
  S: "\\Seen",
  T: "\\Deleted",
};

/**
 * IMAP flags of a Maildir file name: system flags from its info letters, keywords from
 * letters a-z through the folder's keyword names (letters without a name are dropped).
 */
export function maildirFlags(fileName: string, keywords: readonly string[]): string[] {
  const at = fileName.indexOf(":2,");
  if (at < 0) return [];
  let info = fileName.slice(at + 3);
  const comma = info.indexOf(",");
  if (comma >= 0) info = info.slice(0, comma);
  const flags = new Set<string>();
  for (const ch of info) {
    if (SYSTEM[ch]) flags.add(SYSTEM[ch]);
    else if (ch >= "a" && ch <= "z") {
      const name = keywords[ch.charCodeAt(0) - 97];
      if (name) flags.add(name);
    }
  }
  return [...flags];
}

/** `dovecot-keywords`: keyword names by letter index. */
export function parseDovecotKeywords(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+) (\S+)\s*$/.exec(line);
    if (m && Number(m[1]) < 26) out[Number(m[1])] = m[2];
  }
  return out;
}

/** Courier's `courierimapkeywords/:list`: keyword names and each base name's keywords. */
export function parseCourierKeywordList(text: string): Map<string, string[]> {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const names: string[] = [];
  let i = 0;
  for (; i < lines.length && lines[i] !== ""; i++) names.push(lines[i]);
  const byBase = new Map<string, string[]>();
  for (i++; i < lines.length; i++) {
    const m = /^([^:]+):([\d ]*)$/.exec(lines[i]);
    if (!m) continue;
    const kws = m[2].split(" ").filter((s) => s !== "").map((n) => names[Number(n)]).filter(
      (k): k is string => k !== undefined && k !== "",
    );
    byBase.set(m[1], kws);
  }
  return byBase;
}

/** One file of `courierimapkeywords/` besides `:list`: its name and its text. */
export interface CourierKeywordUpdate {
  name: string;
  text: string;
}

/**
 * Applies Courier's pending keyword updates to the `:list` mapping: per base name, the
 * file named by the base name alone, else the `.<n>.<base>` file with the highest n.
 */
export function applyCourierKeywordUpdates(
  byBase: Map<string, string[]>,
  updates: readonly CourierKeywordUpdate[],
): Map<string, string[]> {
  const chosen = new Map<string, { rank: number; text: string }>();
  for (const u of updates) {
    const numbered = /^\.(\d+)\.(.+)$/.exec(u.name);
    const base = numbered ? numbered[2] : u.name;
    const rank = numbered ? Number(numbered[1]) : Infinity;
    if (base.startsWith(".") || base === ":list") continue;
    const prev = chosen.get(base);
    if (!prev || rank > prev.rank) chosen.set(base, { rank, text: u.text });
  }
  const out = new Map(byBase);
  for (const [base, { text }] of chosen) {
    out.set(base, text.split("\n").map((l) => l.trim()).filter((l) => l !== ""));
  }
  return out;
}
