/**
 * The directory of one machine in SQLite (node:sqlite, WAL, synchronous=FULL) under
 * DirBase: the schema, reading everything at open, and each change as one transaction, on
 * disk before commit() resolves (a crash leaves the old or the new state).
 *
 * commit() does all its work synchronously in the call: the plan, the transaction and the
 * listeners' mirror update happen in one step that no other session can interleave with,
 * as before the directory had more than one backend.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type {
  ChangeListener,
  DirectoryBackend,
  DirectoryChange,
  DirectoryContent,
} from "./changes.ts";
import {
  aliasFromRow,
  denyFromRow,
  listsFromRows,
  USER_COLUMNS,
  userColumns,
  userFromRow,
} from "./rows.ts";
import { DirectoryError } from "./records.ts";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
  domain TEXT NOT NULL, name TEXT NOT NULL, dir TEXT NOT NULL DEFAULT '',
  pass TEXT NOT NULL DEFAULT '', quota INTEGER NOT NULL DEFAULT 0,
  maxin INTEGER NOT NULL DEFAULT 0, maxout INTEGER NOT NULL DEFAULT 0,
  forward TEXT NOT NULL DEFAULT '[]', keep INTEGER NOT NULL DEFAULT 0,
  copy TEXT NOT NULL DEFAULT '', autoreply INTEGER NOT NULL DEFAULT 0,
  ar_subject TEXT NOT NULL DEFAULT '', ar_text TEXT NOT NULL DEFAULT '',
  map TEXT NOT NULL DEFAULT '', node TEXT NOT NULL DEFAULT '',
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

export const SQLITE_FILE = "directory.sqlite";

const INSERT_USER = `INSERT INTO users(${USER_COLUMNS.join(", ")}) VALUES (${
  USER_COLUMNS.map(() => "?").join(", ")
})`;

/** Reads the whole directory from an open database (also migrate-directory's snapshot). */
export function readSqliteContent(db: DatabaseSync): DirectoryContent {
  const all = (sql: string) => db.prepare(sql).all() as Record<string, unknown>[];
  return {
    domains: all("SELECT name FROM domains").map((row) => String(row.name)),
    users: all("SELECT * FROM users").map(userFromRow),
    aliases: all("SELECT * FROM aliases").map(aliasFromRow),
    lists: listsFromRows(all("SELECT * FROM lists"), all("SELECT * FROM list_members")),
    deny: all("SELECT kind, value FROM deny").map(denyFromRow),
    dkim: [],
  };
}

export class SqliteBackend implements DirectoryBackend {
  readonly description = "sqlite";
  readonly shared = false;
  readonly initial: DirectoryContent;
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #listeners: ChangeListener[] = [];

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.initial = readSqliteContent(db);
  }

  static open(dirBase: string): SqliteBackend {
    Deno.mkdirSync(dirBase, { recursive: true, mode: 0o750 });
    const path = join(dirBase, SQLITE_FILE);
    // The password hashes are for the server's eyes only (SPEC §7), like admin.passwd: the
    // file is made 0600 before SQLite opens it (an empty file is an empty database), and one
    // an older version left 0644 is tightened; SQLite gives -wal and -shm the file's mode.
    Deno.writeFileSync(path, new Uint8Array(0), { append: true, mode: 0o600 });
    if ((Deno.statSync(path).mode ?? 0) & 0o077) {
      try {
        Deno.chmodSync(path, 0o600);
      } catch { /* not the file's owner (a tool run as another user): left as it is */ }
    }
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    db.exec(SCHEMA);
    // Directories made before SPEC §12 have no node column; their users are all local.
    const columns = db.prepare("PRAGMA table_info(users)").all().map((c) => String(c.name));
    if (!columns.includes("node")) {
      db.exec("ALTER TABLE users ADD COLUMN node TEXT NOT NULL DEFAULT ''");
    }
    return new SqliteBackend(db);
  }

  listen(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  commit(plan: () => DirectoryChange | null): Promise<DirectoryChange | null> {
    try {
      const change = plan();
      if (change) {
        this.#tx(() => this.#write(change));
        for (const listener of this.#listeners) listener.applied(change);
      }
      return Promise.resolve(change);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  follow(): void {}

  sharedSecret(): Promise<string | null> {
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.#db.close();
    return Promise.resolve();
  }

  #write(change: DirectoryChange): void {
    switch (change.op) {
      case "domain.add":
        return this.#run("INSERT INTO domains(name) VALUES (?)", change.name);
      case "domain.del":
        for (const table of ["users", "aliases", "list_members", "lists"]) {
          this.#run(`DELETE FROM ${table} WHERE domain = ?`, change.name);
        }
        return this.#run("DELETE FROM domains WHERE name = ?", change.name);
      case "user.add":
      case "user.mod": {
        const sql = change.op === "user.add" ? INSERT_USER : INSERT_USER.replace(
          "INSERT",
          "INSERT OR REPLACE",
        );
        const row = userColumns(change.user, "integer");
        return this.#run(sql, ...USER_COLUMNS.map((c) => row[c] as SQLInputValue));
      }
      case "user.del":
        return this.#run(
          "DELETE FROM users WHERE domain = ? AND name = ?",
          change.domain,
          change.name,
        );
      case "alias.add":
        return this.#run(
          "INSERT INTO aliases(domain, name, forward) VALUES (?, ?, ?)",
          change.alias.domain,
          change.alias.name,
          JSON.stringify(change.alias.forward),
        );
      case "alias.del":
        return this.#run(
          "DELETE FROM aliases WHERE domain = ? AND name = ?",
          change.domain,
          change.name,
        );
      case "list.add":
        return this.#run(
          "INSERT INTO lists(domain, name, access) VALUES (?, ?, ?)",
          change.list.domain,
          change.list.name,
          change.list.access,
        );
      case "list.del":
        this.#run(
          "DELETE FROM list_members WHERE domain = ? AND list = ?",
          change.domain,
          change.name,
        );
        return this.#run(
          "DELETE FROM lists WHERE domain = ? AND name = ?",
          change.domain,
          change.name,
        );
      case "member.add":
        return this.#run(
          "INSERT INTO list_members(domain, list, mailbox) VALUES (?, ?, ?)",
          change.domain,
          change.list,
          change.mailbox,
        );
      case "member.del":
        return this.#run(
          "DELETE FROM list_members WHERE domain = ? AND list = ? AND mailbox = ?",
          change.domain,
          change.list,
          change.mailbox,
        );
      case "deny.add":
        return this.#run(
          "INSERT INTO deny(kind, value) VALUES (?, ?)",
          change.entry.kind,
          change.entry.value,
        );
      case "deny.del":
        for (const d of change.entries) {
          this.#run("DELETE FROM deny WHERE kind = ? AND value = ?", d.kind, d.value);
        }
        return;
      case "dkim.add":
      case "dkim.del":
      case "reload":
        // One machine keeps DKIM keys as files (FileKeyStore); nothing else sends these.
        throw new DirectoryError(`the SQLite directory does not store ${change.op} changes`);
    }
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
  }
}
