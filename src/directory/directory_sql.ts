/**
 * The directory in SQLite (node:sqlite, WAL, synchronous=FULL): the schema, rows as
 * records, reading everything at open, and each change as one transaction, on disk
 * before the call returns (a crash leaves the old or the new state).
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { addressKey } from "./names.ts";
import type {
  AliasRecord,
  DenyEntry,
  DenyKind,
  ListAccess,
  ListRecord,
  UserRecord,
} from "./records.ts";

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

const USER_COLUMNS =
  "(domain, name, dir, pass, quota, maxin, maxout, forward, keep, copy, autoreply, ar_subject, ar_text, map) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/** Everything the directory holds, as read at open. */
export interface DirectoryContent {
  domains: string[];
  users: UserRecord[];
  aliases: AliasRecord[];
  lists: ListRecord[];
  deny: DenyEntry[];
}

export class DirectoryDb {
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  /** Bumped on every committed change. */
  generation = 0;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  static open(dirBase: string): DirectoryDb {
    Deno.mkdirSync(dirBase, { recursive: true, mode: 0o750 });
    const db = new DatabaseSync(join(dirBase, "directory.sqlite"));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    db.exec(SCHEMA);
    return new DirectoryDb(db);
  }

  close(): void {
    this.#db.close();
  }

  readAll(): DirectoryContent {
    const all = (sql: string) => this.#db.prepare(sql).all();
    const members = new Map<string, string[]>();
    for (const row of all("SELECT * FROM list_members ORDER BY mailbox")) {
      const key = addressKey(String(row.list), String(row.domain));
      members.set(key, [...(members.get(key) ?? []), String(row.mailbox)]);
    }
    return {
      domains: all("SELECT name FROM domains").map((row) => String(row.name)),
      users: all("SELECT * FROM users").map(userFromRow),
      aliases: all("SELECT * FROM aliases").map((row) =>
        Object.freeze({
          name: String(row.name),
          domain: String(row.domain),
          forward: Object.freeze(JSON.parse(String(row.forward)) as string[]),
        })
      ),
      lists: all("SELECT * FROM lists").map((row) =>
        Object.freeze({
          name: String(row.name),
          domain: String(row.domain),
          access: String(row.access) as ListAccess,
          members: Object.freeze(
            members.get(addressKey(String(row.name), String(row.domain))) ?? [],
          ),
        })
      ),
      deny: all("SELECT kind, value FROM deny").map((r) => ({
        kind: String(r.kind) as DenyKind,
        value: String(r.value),
      })),
    };
  }

  insertDomain(name: string): void {
    this.#tx(() => this.#run("INSERT INTO domains(name) VALUES (?)", name));
  }

  /** The domain with everything in it. */
  deleteDomain(name: string): void {
    this.#tx(() => {
      for (const table of ["users", "aliases", "list_members", "lists"]) {
        this.#run(`DELETE FROM ${table} WHERE domain = ?`, name);
      }
      this.#run("DELETE FROM domains WHERE name = ?", name);
    });
  }

  /** A new user, or (`replace`) a user's new record. */
  putUser(user: UserRecord, replace: boolean): void {
    const sql = `INSERT${replace ? " OR REPLACE" : ""} INTO users${USER_COLUMNS}`;
    this.#tx(() => this.#run(sql, ...userToRow(user)));
  }

  deleteUser(domain: string, name: string): void {
    this.#tx(() => this.#run("DELETE FROM users WHERE domain = ? AND name = ?", domain, name));
  }

  insertAlias(alias: AliasRecord): void {
    this.#tx(() =>
      this.#run(
        "INSERT INTO aliases(domain, name, forward) VALUES (?, ?, ?)",
        alias.domain,
        alias.name,
        JSON.stringify(alias.forward),
      )
    );
  }

  deleteAlias(domain: string, name: string): void {
    this.#tx(() => this.#run("DELETE FROM aliases WHERE domain = ? AND name = ?", domain, name));
  }

  insertList(list: ListRecord): void {
    this.#tx(() =>
      this.#run(
        "INSERT INTO lists(domain, name, access) VALUES (?, ?, ?)",
        list.domain,
        list.name,
        list.access,
      )
    );
  }

  /** The list with its members. */
  deleteList(domain: string, name: string): void {
    this.#tx(() => {
      this.#run("DELETE FROM list_members WHERE domain = ? AND list = ?", domain, name);
      this.#run("DELETE FROM lists WHERE domain = ? AND name = ?", domain, name);
    });
  }

  insertMember(list: ListRecord, mailbox: string): void {
    this.#tx(() =>
      this.#run(
        "INSERT INTO list_members(domain, list, mailbox) VALUES (?, ?, ?)",
        list.domain,
        list.name,
        mailbox,
      )
    );
  }

  deleteMember(list: ListRecord, mailbox: string): void {
    this.#tx(() =>
      this.#run(
        "DELETE FROM list_members WHERE domain = ? AND list = ? AND mailbox = ?",
        list.domain,
        list.name,
        mailbox,
      )
    );
  }

  insertDeny(entry: DenyEntry): void {
    this.#tx(() =>
      this.#run("INSERT INTO deny(kind, value) VALUES (?, ?)", entry.kind, entry.value)
    );
  }

  deleteDenies(entries: readonly DenyEntry[]): void {
    this.#tx(() => {
      for (const d of entries) {
        this.#run("DELETE FROM deny WHERE kind = ? AND value = ?", d.kind, d.value);
      }
    });
  }

  /** Runs one statement, prepared once per SQL text. */
  #run(sql: string, ...params: SQLInputValue[]): void {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    s.run(...params);
  }

  #tx(work: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
    this.generation++;
  }
}
