/**
 * Directory rows as records, shared by both backends: SQLite gives integers for booleans
 * and numbers, PostgreSQL booleans and (for BIGINT) decimal strings, so every field is
 * converted here, and the columns are named the same in both schemas.
 */
import { addressKey } from "./names.ts";
import type {
  AliasRecord,
  DenyEntry,
  DenyKind,
  ListAccess,
  ListRecord,
  UserRecord,
} from "./records.ts";

type Row = Record<string, unknown>;

const flag = (v: unknown): boolean => v === true || Number(v) === 1;

export function userFromRow(row: Row): UserRecord {
  return Object.freeze({
    name: String(row.name),
    domain: String(row.domain),
    dir: String(row.dir),
    passHash: String(row.pass),
    quota: Number(row.quota),
    maxIn: Number(row.maxin),
    maxOut: Number(row.maxout),
    forward: Object.freeze(JSON.parse(String(row.forward)) as string[]),
    keep: flag(row.keep),
    copy: String(row.copy),
    autoReply: flag(row.autoreply),
    autoReplySubject: String(row.ar_subject),
    autoReplyText: String(row.ar_text),
    map: String(row.map),
    // Directories written before SPEC §12 have no node column: a single machine.
    node: row.node === undefined || row.node === null ? "" : String(row.node),
  });
}

/** The user's columns, in USER_COLUMNS order; booleans as 0/1 (SQLite) or true/false. */
export function userColumns(u: UserRecord, booleans: "integer" | "boolean") {
  const b = (v: boolean) => booleans === "integer" ? (v ? 1 : 0) : v;
  return {
    domain: u.domain,
    name: u.name,
    dir: u.dir,
    pass: u.passHash,
    quota: u.quota,
    maxin: u.maxIn,
    maxout: u.maxOut,
    forward: JSON.stringify(u.forward),
    keep: b(u.keep),
    copy: u.copy,
    autoreply: b(u.autoReply),
    ar_subject: u.autoReplySubject,
    ar_text: u.autoReplyText,
    map: u.map,
    node: u.node,
  };
}

/** The users table's columns, as userColumns names them. */
export const USER_COLUMNS = [
  "domain",
  "name",
  "dir",
  "pass",
  "quota",
  "maxin",
  "maxout",
  "forward",
  "keep",
  "copy",
  "autoreply",
  "ar_subject",
  "ar_text",
  "map",
  "node",
] as const;

export function aliasFromRow(row: Row): AliasRecord {
  return Object.freeze({
    name: String(row.name),
    domain: String(row.domain),
    forward: Object.freeze(JSON.parse(String(row.forward)) as string[]),
  });
}

/** Lists with their members (member rows: domain, list, mailbox; any order). */
export function listsFromRows(lists: Row[], memberRows: Row[]): ListRecord[] {
  const members = new Map<string, string[]>();
  for (const row of memberRows) {
    const key = addressKey(String(row.list), String(row.domain));
    members.set(key, [...(members.get(key) ?? []), String(row.mailbox)]);
  }
  return lists.map((row) =>
    Object.freeze({
      name: String(row.name),
      domain: String(row.domain),
      access: String(row.access) as ListAccess,
      members: Object.freeze(
        (members.get(addressKey(String(row.name), String(row.domain))) ?? []).sort(),
      ),
    })
  );
}

export function denyFromRow(row: Row): DenyEntry {
  return { kind: String(row.kind) as DenyKind, value: String(row.value) };
}
