/**
 * UID lists of other IMAP servers' Maildirs, read so that an import keeps UIDVALIDITY
 * and UIDs (SPEC §11) and IMAP clients need not download everything again:
 *
 * - Dovecot `dovecot-uidlist` (doc.dovecot.org, "Maildir Mailbox Format"):
 *     version 1:  `1 <uidvalidity> <nextuid>` then `<uid> <file name>` lines;
 *     version 3:  `3 V<uidvalidity> N<nextuid> G<mailbox guid> ...` (fields in any order)
 *                 then `<uid> [<extension fields>...] :<file name>` lines, where extension
 *                 fields are single tokens such as `W<vsize>`, `G<guid>` or `O<pop3 order>`.
 *   Version 2 existed only in Dovecot development releases and is not read.
 * - Courier `courierimapuiddb`: the version 1 format above (Dovecot's v1 is Courier's),
 *   with base names only.
 *
 * The name in a line is the file name when the list was written; flags (`:2,...`) may
 * have changed since, so messages are matched by base name (the name up to the first
 * ':'). Entries whose file is gone are stale (expunged messages the list has not
 * dropped yet) and simply match nothing. The next UID is above every UID in the file
 * even when the header says less: Dovecot appends lines without rewriting the header.
 */

import type { BaseUidMap } from "../store/folder/base_uids.ts";

/** A source folder's UIDs: the UIDVALIDITY and UID of each message by base name. */
export interface SourceUids {
  uidValidity: number;
  /** Above every UID the source handed out (header or highest entry + 1). */
  nextUid: number;
  byBase: BaseUidMap;
  /** Lines that could not be read (reported, otherwise ignored). */
  badLines: number;
}

/** The base name of a Maildir file name: everything before the first ':' (info). */
export function maildirBase(name: string): string {
  const colon = name.indexOf(":");
  return colon >= 0 ? name.slice(0, colon) : name;
}

const positive = (text: string): number | null => {
  if (!/^\d{1,10}$/.test(text)) return null;
  const n = Number(text);
  return n > 0 && n <= 0xffffffff ? n : null;
};

function parseHeader(line: string): { version: 1 | 3; uidValidity: number; next: number } | null {
  const v1 = /^1 (\d+) (\d+)\s*$/.exec(line);
  if (v1) {
    const uidValidity = positive(v1[1]);
    const next = Number(v1[2]);
    return uidValidity ? { version: 1, uidValidity, next } : null;
  }
  if (!line.startsWith("3 ")) return null;
  let uidValidity: number | null = null;
  let next = 1;
  for (const field of line.slice(2).split(" ")) {
    if (field.startsWith("V")) uidValidity = positive(field.slice(1));
    else if (field.startsWith("N")) next = positive(field.slice(1)) ?? 1;
    // G<mailbox guid> and fields of later versions carry nothing an import needs.
  }
  return uidValidity ? { version: 3, uidValidity, next } : null;
}

/** One entry line: its UID and the base name of its file, or null when malformed. */
function parseEntry(line: string, version: 1 | 3): { uid: number; base: string } | null {
  const space = line.indexOf(" ");
  if (space <= 0) return null;
  const uid = positive(line.slice(0, space));
  if (uid === null) return null;
  let name: string;
  if (version === 1) {
    name = line.slice(space + 1);
  } else {
    // Extension fields are tokens up to the one that starts with ':' (the file name).
    const rest = line.slice(space + 1);
    const at = rest.startsWith(":") ? 0 : rest.indexOf(" :");
    if (at < 0) return null;
    name = rest.slice(at === 0 ? 1 : at + 2);
  }
  const base = maildirBase(name.trim());
  return base === "" || base.includes("/") ? null : { uid, base };
}

/**
 * Parses `dovecot-uidlist` (versions 1 and 3) or `courierimapuiddb`. Null when the
 * header is not one of these formats (the folder is then imported with new UIDs).
 */
export function parseUidList(text: string): SourceUids | null {
  const lines = text.split("\n");
  const header = parseHeader(lines[0].replace(/\r$/, ""));
  if (!header) return null;
  const out: SourceUids = {
    uidValidity: header.uidValidity,
    nextUid: Math.max(header.next, 1),
    byBase: new Map(),
    badLines: 0,
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line === "") continue;
    const entry = parseEntry(line, header.version);
    if (!entry) {
      out.badLines++;
      continue;
    }
    // A base listed twice keeps its first UID (the later line is a restored copy).
    if (!out.byBase.has(entry.base)) out.byBase.set(entry.base, entry.uid);
    if (entry.uid >= out.nextUid) out.nextUid = entry.uid + 1;
  }
  return out;
}
