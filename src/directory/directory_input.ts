/**
 * Checking and normalizing what the admin client asks the directory to store: names,
 * addresses, DIR=, MAP= and user settings. Refusals are DirectoryErrors, whose messages
 * go back to the client as they are.
 */
import { hasControl, isVisibleAscii } from "../message/controls.ts";
import { NameError, normalizeLocalPart, normalizeNodeName, parseAddress } from "./names.ts";
import { DirectoryError, type UserRecord } from "./records.ts";

export interface NewUser {
  name: string;
  domain: string;
  dir?: string;
  password?: string;
  quota?: number;
  maxIn?: number;
  maxOut?: number;
  /** SPEC §12: the user's home node; "" (the default) on a single machine. */
  node?: string;
}

export interface UserChanges {
  password?: string;
  quota?: number;
  maxIn?: number;
  maxOut?: number;
  forward?: string[];
  keep?: boolean;
  copy?: string;
  autoReply?: boolean;
  autoReplySubject?: string;
  autoReplyText?: string;
  map?: string;
  /**
   * The home node (SPEC §12). Not an admin parameter: USER MOVE sets it once the Maildir
   * is on the new node (issue 20's next step).
   */
  node?: string;
}

/** Runs a names.ts normalization, its NameError turned into a DirectoryError. */
export function wrapName<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NameError) throw new DirectoryError(e.message);
    throw e;
  }
}

/** A node name as stored (lower-case), or "" for none. */
export function checkNodeName(raw: string): string {
  return wrapName(() => normalizeNodeName(raw));
}

/** An alias's local part: a user name, or "*" for the domain's catch-all. */
export function aliasName(raw: string): string {
  return raw.trim() === "*" ? "*" : wrapName(() => normalizeLocalPart(raw));
}

/** Normalizes a list of forward/copy targets; each must be a full address. */
export function normalizeAddresses(list: string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const a = wrapName(() => parseAddress(raw.trim()));
    const addr = `${a.local}@${a.domain}`;
    if (!out.includes(addr)) out.push(addr);
  }
  return out;
}

/** DIR= must stay inside DirBase (SPEC §5): relative, no "..", no empty segments. */
export function normalizeUserDir(dir: string): string {
  // Trailing slashes, by a scan (/\/+$/ is quadratic on a long run of them mid-text).
  let clean = dir.trim();
  let end = clean.length;
  while (end > 0 && clean.charCodeAt(end - 1) === 0x2f) end--;
  clean = clean.slice(0, end);
  if (clean === "") throw new DirectoryError("DIR is empty");
  if (clean.startsWith("/") || hasControl(clean)) {
    throw new DirectoryError(`DIR "${dir}" must be a path relative to DirBase`);
  }
  const parts = clean.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) {
    throw new DirectoryError(`DIR "${dir}" leaves DirBase ("..")`);
  }
  if (parts.length === 0) throw new DirectoryError(`DIR "${dir}" is DirBase itself`);
  return parts.join("/");
}

/** A MAP login as stored: lower-case, or "" for none (whether it is free is not checked). */
export function normalizeMap(raw: string): string {
  const map = raw.trim().toLowerCase();
  if (map === "") return "";
  if (map.length > 255 || !isVisibleAscii(map)) {
    throw new DirectoryError(`MAP "${raw}" must be 1-255 printable characters without spaces`);
  }
  return map;
}

/** The new record of a user who has none yet: no forwarding, no auto-reply, no MAP. */
export function newUserRecord(
  name: string,
  domain: string,
  dir: string,
  passHash: string,
  node: string,
  input: NewUser,
): UserRecord {
  return Object.freeze({
    name,
    domain,
    dir,
    passHash,
    quota: input.quota ?? 0,
    maxIn: input.maxIn ?? 0,
    maxOut: input.maxOut ?? 0,
    forward: Object.freeze([]),
    keep: false,
    copy: "",
    autoReply: false,
    autoReplySubject: "",
    autoReplyText: "",
    map: "",
    node,
  });
}

/**
 * The settings among `changes` that need nothing but checking: forward and copy
 * addresses, sizes and the auto-reply. MAP and the password are the caller's.
 */
export function settingChanges(changes: UserChanges): Record<string, unknown> {
  const next: Record<string, unknown> = {};
  if (changes.forward !== undefined) {
    next.forward = Object.freeze(normalizeAddresses(changes.forward));
  }
  if (changes.copy !== undefined) {
    next.copy = changes.copy === "" ? "" : normalizeAddresses([changes.copy])[0];
  }
  for (const k of ["quota", "maxIn", "maxOut"] as const) {
    const v = changes[k];
    if (v !== undefined) {
      if (!Number.isSafeInteger(v) || v < 0) throw new DirectoryError(`${k} must be a size >= 0`);
      next[k] = v;
    }
  }
  for (const k of ["keep", "autoReply", "autoReplySubject", "autoReplyText"] as const) {
    if (changes[k] !== undefined) next[k] = changes[k];
  }
  if (changes.node !== undefined) next.node = checkNodeName(changes.node);
  return next;
}
