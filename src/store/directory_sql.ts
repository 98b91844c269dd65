/** SQLite schema of the directory and row <-> record conversion. */
import type { SQLInputValue } from "node:sqlite";
import type { UserRecord } from "./records.ts";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
  domain TEXT NOT NULL, name TEXT NOT NULL, dir TEXT NOT NULL DEFAULT '',
  pass TEXT NOT NULL DEFAULT '', quota INTEGER NOT NULL DEFAULT 0,
  maxin INTEGER NOT NULL DEFAULT 0, maxout INTEGER NOT NULL DEFAULT 0,
  forward TEXT NOT NULL DEFAULT '[]', keep INTEGER NOT NULL DEFAULT 0,
  copy TEXT NOT NULL DEFAULT '', autoreply INTEGER NOT NULL DEFAULT 0,
  ar_subject TEXT NOT NULL DEFAULT '', ar_text TEXT NOT NULL DEFAULT '',
  map TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (domain, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (
  domain TEXT NOT NULL, name TEXT NOT NULL, forward TEXT NOT NULL,
  PRIMARY KEY (domain, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lists (
  domain TEXT NOT NULL, name TEXT NOT NULL, access TEXT NOT NULL DEFAULT 'PUBLIC',
  PRIMARY KEY (domain, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_members (
  domain TEXT NOT NULL, list TEXT NOT NULL, mailbox TEXT NOT NULL,
  PRIMARY KEY (domain, list, mailbox)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deny (
  kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value)) WITHOUT ROWID;
`;

export function userFromRow(row: Record<string, unknown>): UserRecord {
  return Object.freeze({
    name: String(row.name),
    domain: String(row.domain),
    dir: String(row.dir),
    passHash: String(row.pass),
    quota: Number(row.quota),
    maxIn: Number(row.maxin),
    maxOut: Number(row.maxout),
    forward: Object.freeze(JSON.parse(String(row.forward)) as string[]),
    keep: Number(row.keep) === 1,
    copy: String(row.copy),
    autoReply: Number(row.autoreply) === 1,
    autoReplySubject: String(row.ar_subject),
    autoReplyText: String(row.ar_text),
    map: String(row.map),
  });
}

export function userToRow(u: UserRecord): SQLInputValue[] {
  return [
    u.domain,
    u.name,
    u.dir,
    u.passHash,
    u.quota,
    u.maxIn,
    u.maxOut,
    JSON.stringify(u.forward),
    u.keep ? 1 : 0,
    u.copy,
    u.autoReply ? 1 : 0,
    u.autoReplySubject,
    u.autoReplyText,
    u.map,
  ];
}
