/**
 * Reading the whole directory from PostgreSQL and writing one DirectoryChange to its
 * tables; the transactions around them are the backend's (backend.ts).
 */
import type postgres from "postgres";
import type { DkimKey, DkimKeyType } from "../../mailauth/keys.ts";
import type { DirectoryChange, DirectoryContent } from "../changes.ts";
import {
  aliasFromRow,
  denyFromRow,
  listsFromRows,
  USER_COLUMNS,
  userColumns,
  userFromRow,
} from "../rows.ts";

type Sql = postgres.Sql | postgres.TransactionSql;

function dkimFromRow(row: Record<string, unknown>): DkimKey {
  return {
    domain: String(row.domain),
    selector: String(row.selector),
    type: String(row.type) as DkimKeyType,
    created: Number(row.created),
    privateKey: String(row.private_key),
  };
}

/**
 * Everything, with the sequence number of the last change it includes. Call it in a
 * REPEATABLE READ transaction (or one holding the directory lock) for a consistent view.
 */
export async function readContent(sql: Sql): Promise<{ content: DirectoryContent; seq: number }> {
  const [seq] = await sql`SELECT COALESCE(MAX(seq), 0) AS seq FROM changes`;
  const [pruned] = await sql`SELECT value FROM extremail_meta WHERE name = 'pruned_upto'`;
  const domains = await sql`SELECT name FROM domains`;
  const users = await sql`SELECT * FROM users`;
  const aliases = await sql`SELECT * FROM aliases`;
  const lists = await sql`SELECT * FROM lists`;
  const members = await sql`SELECT * FROM list_members`;
  const deny = await sql`SELECT kind, value FROM deny`;
  const dkim = await sql`SELECT * FROM dkim_keys`;
  return {
    content: {
      domains: domains.map((row) => String(row.name)),
      users: users.map(userFromRow),
      aliases: aliases.map(aliasFromRow),
      lists: listsFromRows([...lists], [...members]),
      deny: deny.map(denyFromRow),
      dkim: dkim.map(dkimFromRow),
    },
    // After a prune that took every row, the log's last number is pruned_upto.
    seq: Math.max(Number(seq.seq), Number(pruned?.value ?? 0)),
  };
}

/** The users table's row of a record (BOOLEAN columns, BIGINT sizes). */
export function userRow(user: DirectoryChange & { op: "user.add" | "user.mod" }) {
  return userColumns(user.user, "boolean");
}

/** Writes one change to the tables (not to the change log). */
export async function writeChange(sql: Sql, change: DirectoryChange): Promise<void> {
  switch (change.op) {
    case "domain.add":
      await sql`INSERT INTO domains (name) VALUES (${change.name})`;
      return;
    case "domain.del":
      await sql`DELETE FROM users WHERE domain = ${change.name}`;
      await sql`DELETE FROM aliases WHERE domain = ${change.name}`;
      await sql`DELETE FROM list_members WHERE domain = ${change.name}`;
      await sql`DELETE FROM lists WHERE domain = ${change.name}`;
      await sql`DELETE FROM domains WHERE name = ${change.name}`;
      return;
    case "user.add":
      await sql`INSERT INTO users ${sql(userRow(change), ...USER_COLUMNS)}`;
      return;
    case "user.mod": {
      const row = userRow(change);
      const columns = USER_COLUMNS.filter((c) => c !== "domain" && c !== "name");
      await sql`UPDATE users SET ${sql(row, ...columns)}
        WHERE domain = ${row.domain} AND name = ${row.name}`;
      return;
    }
    case "user.del":
      await sql`DELETE FROM users WHERE domain = ${change.domain} AND name = ${change.name}`;
      return;
    case "alias.add":
      await sql`INSERT INTO aliases (domain, name, forward) VALUES (${change.alias.domain},
        ${change.alias.name}, ${JSON.stringify(change.alias.forward)})`;
      return;
    case "alias.del":
      await sql`DELETE FROM aliases WHERE domain = ${change.domain} AND name = ${change.name}`;
      return;
    case "list.add":
      await sql`INSERT INTO lists (domain, name, access)
        VALUES (${change.list.domain}, ${change.list.name}, ${change.list.access})`;
      return;
    case "list.del":
      await sql`DELETE FROM list_members WHERE domain = ${change.domain} AND list = ${change.name}`;
      await sql`DELETE FROM lists WHERE domain = ${change.domain} AND name = ${change.name}`;
      return;
    case "member.add":
      await sql`INSERT INTO list_members (domain, list, mailbox)
        VALUES (${change.domain}, ${change.list}, ${change.mailbox})`;
      return;
    case "member.del":
      await sql`DELETE FROM list_members WHERE domain = ${change.domain}
        AND list = ${change.list} AND mailbox = ${change.mailbox}`;
      return;
    case "deny.add":
      await sql`INSERT INTO deny (kind, value) VALUES (${change.entry.kind}, ${change.entry.value})`;
      return;
    case "deny.del":
      for (const d of change.entries) {
        await sql`DELETE FROM deny WHERE kind = ${d.kind} AND value = ${d.value}`;
      }
      return;
    case "dkim.add": {
      const k = change.key;
      await sql`INSERT INTO dkim_keys (domain, selector, type, created, private_key)
        VALUES (${k.domain}, ${k.selector}, ${k.type}, ${k.created}, ${k.privateKey})`;
      return;
    }
    case "dkim.del":
      await sql`DELETE FROM dkim_keys WHERE domain = ${change.domain}
        AND selector = ${change.selector}`;
      return;
    case "reload":
      return; // written by migrate-directory after it filled the tables itself
  }
}
