/**
 * Maildir file and folder naming (Maildir, Maildir++ and Dovecot's conventions, so
 * other Maildir software reads our mailboxes):
 *   file:   <base>[:2,<flags>]  with base = <secs>.M<usecs>P<pid>Q<seq>.<host>,S=<size>
 *   folder: INBOX is the root; "a/b" is the directory ".a.b", each component in
 *           modified UTF-7 with "." written as "&AC4-" so it cannot split a level.
 */
import { hasControl } from "../message/controls.ts";
import { decodeMutf7, encodeMutf7 } from "./mutf7.ts";

/** Thrown for a folder name that cannot be stored; the message is client-safe. */
export class FolderNameError extends Error {}

/** IMAP hierarchy delimiter (SPEC §5). */
export const DELIMITER = "/";

/** Maildir info flag letters (cr.yp.to/proto/maildir.html), mapped to IMAP flags. */
export const FLAG_LETTERS: Readonly<Record<string, string>> = {
  "\\Draft": "D",
  "\\Flagged": "F",
  "\\Answered": "R",
  "\\Seen": "S",
  "\\Deleted": "T",
};
export const LETTER_FLAGS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(FLAG_LETTERS).map(([flag, letter]) => [letter, flag]),
);

export interface ParsedName {
  base: string;
  /** Flag letters, sorted, system (upper-case) and keyword (lower-case) alike. */
  flags: string;
  /** Size from `,S=` when the name carries it. */
  size: number | null;
}

/**
 * Whether a directory entry of new/ or cur/ is a message file: a file, not a dot file
 * (another program's work in progress), no line break in its name (the UID list and the
 * listings are line-based). Every reader of those directories counts files by this.
 */
export function isMessageFile(e: Deno.DirEntry): boolean {
  return e.isFile && !e.name.startsWith(".") && !/[\n\r]/.test(e.name);
}

/** The base name of a message file: its name without the ":2,<flags>" info. */
export function baseOf(name: string): string {
  const colon = name.indexOf(":2,");
  return colon >= 0 ? name.slice(0, colon) : name;
}

export function parseFileName(name: string): ParsedName {
  const colon = name.indexOf(":2,");
  const base = baseOf(name);
  const flags = colon >= 0 ? sortFlags(name.slice(colon + 3)) : "";
  const m = /,S=(\d+)/.exec(base);
  return { base, flags, size: m ? Number(m[1]) : null };
}

export function sortFlags(letters: string): string {
  // Nearly every name holds none or a few letters already in order: checked in place, no
  // set built and sorted (that was a tenth of a first SELECT's 100,000 names).
  let prev = 0;
  for (let i = 0; i < letters.length; i++) {
    const c = letters.charCodeAt(i);
    if (c <= prev || c < 65 || (c > 90 && c < 97) || c > 122) {
      return [...new Set(letters.replace(/[^A-Za-z]/g, ""))].sort().join("");
    }
    prev = c;
  }
  return letters;
}

export function fileNameFor(base: string, flags: string): string {
  return `${base}:2,${sortFlags(flags)}`;
}

let sequence = 0;
const hostPart = (() => {
  let host = "localhost";
  try {
    host = Deno.hostname();
  } catch { /* no permission: keep localhost */ }
  // Maildir spec: "/" and ":" in the host name are written as \057 and \072.
  return host.replace(/\//g, "\\057").replace(/:/g, "\\072").replace(/,/g, "\\054");
})();

/** A unique base name for a new message (unique per host, pid and counter). */
export function newBaseName(size: number): string {
  const now = Date.now();
  const secs = Math.floor(now / 1000);
  const usecs = (now % 1000) * 1000 + (sequence % 1000);
  sequence++;
  // Zero-padded so that name order is arrival order (folders assign UIDs in name order).
  return `${secs}.M${String(usecs).padStart(6, "0")}P${Deno.pid}Q${sequence}.${hostPart},S=${size}`;
}

/**
 * IMAP name (UTF-8, "/"-separated) to its Maildir++ directory name, or "" for INBOX.
 * Refuses names that could not round-trip or could escape the Maildir root.
 */
export function folderToDir(name: string): string {
  if (isInbox(name)) return "";
  const parts = name.split(DELIMITER);
  if (parts[0].toUpperCase() === "INBOX") parts[0] = "INBOX";
  for (const part of parts) {
    if (part === "") throw new FolderNameError(`mailbox name "${name}" has an empty level`);
    if (hasControl(part)) {
      throw new FolderNameError(`mailbox name "${name}" contains control characters`);
    }
  }
  const dir = "." + parts.map((p) => encodeMutf7(p).replace(/\./g, "&AC4-")).join(".");
  if (dir.length > 255) throw new FolderNameError(`mailbox name "${name}" is too long`);
  return dir;
}

/** Maildir++ directory name (".a.b") back to the IMAP name ("a/b"). */
export function dirToFolder(dir: string): string | null {
  if (!dir.startsWith(".") || dir === "." || dir === "..") return null;
  const parts = dir.slice(1).split(".");
  if (parts.some((p) => p === "")) return null;
  try {
    return parts.map(decodeMutf7).join(DELIMITER);
  } catch {
    return null;
  }
}

export function isInbox(name: string): boolean {
  return name.toUpperCase() === "INBOX";
}
