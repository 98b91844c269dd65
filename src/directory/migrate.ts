/**
 * `extremail migrate-directory` (SPEC §12): the SQLite directory of a single machine
 * copied into an empty PostgreSQL database, with the machine's DKIM keys and SRS secret,
 * so that it can become the first node of several.
 *
 * - The SQLite file is read in one read transaction: a consistent snapshot, whether the
 *   daemon is running (WAL: its writes go on beside the reader) or not.
 * - Everything is written in one PostgreSQL transaction that holds the directory lock:
 *   a run that fails leaves the database as it was, and can simply be run again.
 * - A database that already holds directory content is refused (nothing is merged); a
 *   node that was started on the empty database before only created the tables and an
 *   SRS secret, which the machine's secret replaces (SRS addresses it gave out stay valid).
 * - Users get NODE = the given node (--node, else NodeName): their Maildirs are where
 *   they are now. A `reload` entry in the change log makes running nodes read it all.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type postgres from "postgres";
import { redactDirectoryUrl } from "../config/cluster.ts";
import { readKeyFiles } from "../mailauth/keys.ts";
import { SRS_SECRET_FILE } from "../mailauth/srs.ts";
import { readTextIfExists } from "../store/fsutil.ts";
import type { DirectoryContent } from "./changes.ts";
import { connectPostgres, describePgError } from "./postgres/backend.ts";
import { CHANGE_CHANNEL, CONTENT_TABLES, ensureSchema, lockDirectory } from "./postgres/schema.ts";
import { USER_COLUMNS, userColumns } from "./rows.ts";
import { readSqliteContent, SQLITE_FILE } from "./sqlite.ts";

/** A migration that cannot be done; the message says why and what to do. */
export class MigrationError extends Error {}

export interface MigrationSummary {
  source: string;
  target: string;
  node: string;
  domains: number;
  users: number;
  aliases: number;
  lists: number;
  members: number;
  deny: number;
  dkim: number;
  /** The SRS secret: copied, replacing one a node had made, or none to copy. */
  srs: "copied" | "replaced" | "none";
}

/** Rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement. */
const BATCH = 1000;

/** The SQLite directory under `dirBase`, read in one snapshot (read-only). */
export function readSqliteSnapshot(dirBase: string): DirectoryContent {
  const path = join(dirBase, SQLITE_FILE);
  try {
    Deno.statSync(path);
  } catch {
    throw new MigrationError(
      `there is no SQLite directory at ${path}; give the single machine's configuration (--conf)`,
    );
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec("BEGIN");
    const content = readSqliteContent(db);
    db.exec("COMMIT");
    return content;
  } finally {
    db.close();
  }
}

export async function migrateDirectory(options: {
  dirBase: string;
  url: string;
  node: string;
  warn: (text: string) => void;
}): Promise<MigrationSummary> {
  const { dirBase, url, node } = options;
  const content = readSqliteSnapshot(dirBase);
  const dkim = await readKeyFiles(dirBase, options.warn);
  const srsSecret = (await readTextIfExists(join(dirBase, SRS_SECRET_FILE)))?.trim() || null;
  const summary: MigrationSummary = {
    source: join(dirBase, SQLITE_FILE),
    target: redactDirectoryUrl(url),
    node,
    domains: content.domains.length,
    users: content.users.length,
    aliases: content.aliases.length,
    lists: content.lists.length,
    members: content.lists.reduce((n, l) => n + l.members.length, 0),
    deny: content.deny.length,
    dkim: dkim.length,
    srs: srsSecret ? "copied" : "none",
  };
  const sql = connectPostgres(url, 1);
  try {
    await sql.begin(async (tx) => {
      await lockDirectory(tx);
      await ensureSchema(tx);
      await refuseContent(tx, summary.target);
      await insertAll(tx, content, node, dkim);
      if (srsSecret) {
        const [old] = await tx`SELECT value FROM secrets WHERE name = 'srs'`;
        if (old && old.value !== srsSecret) summary.srs = "replaced";
        await tx`INSERT INTO secrets (name, value) VALUES ('srs', ${srsSecret})
          ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`;
      }
      const [row] = await tx`INSERT INTO changes (node, change)
        VALUES (${node}, ${tx.json({ op: "reload" })}) RETURNING seq`;
      await tx`SELECT pg_notify(${CHANGE_CHANNEL}, ${String(row.seq)})`;
    });
  } catch (e) {
    if (e instanceof MigrationError) throw e;
    throw new MigrationError(
      `cannot write to ${summary.target}: ${describePgError(e)}; nothing was copied`,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
  return summary;
}

/** SPEC §12: only an empty database is filled; says what is in a non-empty one. */
async function refuseContent(tx: postgres.TransactionSql, target: string): Promise<void> {
  const found: string[] = [];
  for (const table of CONTENT_TABLES) {
    const [row] = await tx`SELECT count(*)::int AS n FROM ${tx(table)}`;
    if (row.n > 0) found.push(`${row.n} ${table === "changes" ? "change-log" : table} rows`);
  }
  if (found.length > 0) {
    throw new MigrationError(
      `${target} already holds a directory (${found.join(", ")}); migrate-directory only` +
        " fills an empty database: give a new one, or drop these tables first",
    );
  }
}

async function insertAll(
  tx: postgres.TransactionSql,
  content: DirectoryContent,
  node: string,
  dkim: Awaited<ReturnType<typeof readKeyFiles>>,
): Promise<void> {
  const insert = async (table: string, rows: Record<string, unknown>[], columns: string[]) => {
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH) as Record<string, postgres.ParameterOrJSON<never>>[];
      await tx`INSERT INTO ${tx(table)} ${tx(batch, columns)}`;
    }
  };
  await insert("domains", content.domains.map((name) => ({ name })), ["name"]);
  await insert(
    "users",
    content.users.map((u) => userColumns({ ...u, node }, "boolean")),
    [...USER_COLUMNS],
  );
  await insert(
    "aliases",
    content.aliases.map((a) => ({
      domain: a.domain,
      name: a.name,
      forward: JSON.stringify(a.forward),
    })),
    ["domain", "name", "forward"],
  );
  await insert(
    "lists",
    content.lists.map((l) => ({ domain: l.domain, name: l.name, access: l.access })),
    ["domain", "name", "access"],
  );
  await insert(
    "list_members",
    content.lists.flatMap((l) =>
      l.members.map((mailbox) => ({ domain: l.domain, list: l.name, mailbox }))
    ),
    ["domain", "list", "mailbox"],
  );
  await insert("deny", content.deny.map((d) => ({ kind: d.kind, value: d.value })), [
    "kind",
    "value",
  ]);
  await insert(
    "dkim_keys",
    dkim.map((k) => ({
      domain: k.domain,
      selector: k.selector,
      type: k.type,
      created: k.created,
      private_key: k.privateKey,
    })),
    ["domain", "selector", "type", "created", "private_key"],
  );
}

/** The summary line printed at the end (SPEC §12: counts per kind). */
export function summaryLine(s: MigrationSummary): string {
  const n = (count: number, one: string, many = one + "s") =>
    `${count} ${count === 1 ? one : many}`;
  return `migrated ${s.source} to ${s.target}: ${n(s.domains, "domain")}, ` +
    `${n(s.users, "user")} (node ${s.node || '""'}), ${n(s.aliases, "alias", "aliases")}, ` +
    `${n(s.lists, "list")} with ${n(s.members, "member")}, ` +
    `${n(s.deny, "deny entry", "deny entries")}, ${n(s.dkim, "DKIM key")}, ` +
    `SRS secret ${s.srs === "none" ? "none (nodes make one)" : s.srs}`;
}
