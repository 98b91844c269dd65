/**
 * The directory's tables in PostgreSQL (SPEC §12), the same columns as SQLite's
 * (../sqlite.ts) in PostgreSQL's types, plus what several nodes need:
 *
 * - `changes`: the change log. Every write adds one row (its DirectoryChange as JSON) in
 *   the same transaction; nodes apply the rows after the last sequence number they saw.
 *   Writers hold one advisory lock until they commit (DIRECTORY_LOCK), so sequence
 *   numbers become visible in order and "everything after N" never skips a row.
 * - `dkim_keys` and `secrets` (the SRS secret): shared by every node, readable only with
 *   the database's credentials.
 * - `extremail_meta`: the schema version, and `pruned_upto`, the highest sequence number
 *   removed from the change log (a node that saw less reads everything again).
 */
import type postgres from "postgres";

/** Bumped when the tables change; a database written by a newer version is refused. */
export const SCHEMA_VERSION = 1;

/** The advisory lock every directory writer holds until it commits. */
export const DIRECTORY_LOCK = 0x657874726d6c; // "extrml"

/** The channel whose notifications carry the sequence number of a new change. */
export const CHANGE_CHANNEL = "extremail_directory";

/** Tables that hold directory content: migrate-directory requires them all empty. */
export const CONTENT_TABLES = [
  "domains",
  "users",
  "aliases",
  "lists",
  "list_members",
  "deny",
  "dkim_keys",
  "changes",
] as const;

const TABLES = `
CREATE TABLE IF NOT EXISTS extremail_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS users (
  domain TEXT NOT NULL, name TEXT NOT NULL, dir TEXT NOT NULL DEFAULT '',
  pass TEXT NOT NULL DEFAULT '', quota BIGINT NOT NULL DEFAULT 0,
  maxin BIGINT NOT NULL DEFAULT 0, maxout BIGINT NOT NULL DEFAULT 0,
  forward TEXT NOT NULL DEFAULT '[]', keep BOOLEAN NOT NULL DEFAULT false,
  copy TEXT NOT NULL DEFAULT '', autoreply BOOLEAN NOT NULL DEFAULT false,
  ar_subject TEXT NOT NULL DEFAULT '', ar_text TEXT NOT NULL DEFAULT '',
  map TEXT NOT NULL DEFAULT '', node TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (domain, name));
CREATE UNIQUE INDEX IF NOT EXISTS users_map ON users (map) WHERE map <> '';
CREATE TABLE IF NOT EXISTS aliases (
  domain TEXT NOT NULL, name TEXT NOT NULL, forward TEXT NOT NULL,
  PRIMARY KEY (domain, name));
CREATE TABLE IF NOT EXISTS lists (
  domain TEXT NOT NULL, name TEXT NOT NULL, access TEXT NOT NULL DEFAULT 'PUBLIC',
  PRIMARY KEY (domain, name));
CREATE TABLE IF NOT EXISTS list_members (
  domain TEXT NOT NULL, list TEXT NOT NULL, mailbox TEXT NOT NULL,
  PRIMARY KEY (domain, list, mailbox));
CREATE TABLE IF NOT EXISTS deny (
  kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value));
CREATE TABLE IF NOT EXISTS dkim_keys (
  domain TEXT NOT NULL, selector TEXT NOT NULL, type TEXT NOT NULL,
  created BIGINT NOT NULL, private_key TEXT NOT NULL,
  PRIMARY KEY (domain, selector));
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
  seq BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now(),
  node TEXT NOT NULL DEFAULT '', change JSONB NOT NULL);
`;

/** Thrown when the database holds something this version cannot use. */
export class SchemaError extends Error {}

/**
 * Creates the tables when they are missing (in the transaction `tx`, which holds
 * DIRECTORY_LOCK, so nodes starting together do not race) and checks the version.
 */
export async function ensureSchema(tx: postgres.TransactionSql): Promise<void> {
  await tx.unsafe(TABLES);
  const [row] = await tx`SELECT value FROM extremail_meta WHERE name = 'schema_version'`;
  if (!row) {
    await tx`INSERT INTO extremail_meta (name, value)
      VALUES ('schema_version', ${String(SCHEMA_VERSION)}), ('pruned_upto', '0')`;
    return;
  }
  const version = Number(row.value);
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      `the directory database was written by a newer eXtremail (schema ${version}, this one` +
        ` knows ${SCHEMA_VERSION}); upgrade this node`,
    );
  }
}

/** Takes DIRECTORY_LOCK for the rest of the transaction (waits at most 10 s for it). */
export async function lockDirectory(tx: postgres.TransactionSql): Promise<void> {
  await tx`SET LOCAL lock_timeout = '10s'`;
  await tx`SET LOCAL statement_timeout = '60s'`;
  await tx`SELECT pg_advisory_xact_lock(${DIRECTORY_LOCK})`;
}
