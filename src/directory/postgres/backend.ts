/**
 * The directory in PostgreSQL, shared by every node (SPEC §12).
 *
 * Writes: one transaction per change that takes the directory lock (schema.ts), first
 * applies the changes other nodes committed since this node last looked (so the plan's
 * checks see the latest state), then writes the tables and one change-log row and
 * NOTIFYs its sequence number. PostgreSQL's commit makes it durable (on the primary, and on
 * a synchronous replica when one is configured); the listeners apply it before commit()
 * resolves, so it is visible on this node at once.
 *
 * Reads: every node follows the change log (follower.ts) and applies other nodes' changes
 * to the same mirror within a second. When PostgreSQL cannot be reached, the mirror keeps
 * serving mail; writes fail with a DirectoryUnavailableError that says whether the change
 * was made.
 *
 * One write or catch-up at a time per node (`#serial`): a change is applied in sequence
 * order exactly once, whichever path (commit, notification, poll) sees it first.
 */
import postgres from "postgres";
import { redactDirectoryUrl } from "../../config/cluster.ts";
import { deepFreeze } from "../../config/load.ts";
import type {
  ChangeListener,
  DirectoryBackend,
  DirectoryChange,
  DirectoryContent,
} from "../changes.ts";
import { DirectoryUnavailableError } from "../records.ts";
import { readContent, writeChange } from "./rows.ts";
import { CHANGE_CHANNEL, ensureSchema, lockDirectory } from "./schema.ts";
import { Follower, type FollowerOptions } from "./follower.ts";

export interface PostgresOptions extends FollowerOptions {
  /** This node's name, recorded with each change it writes (for the DBA). */
  nodeName: string;
  /** Problems and recoveries of the connection, one line each. */
  log: { info(text: string): void; warn(text: string): void };
}

/** What a failed connection or statement was, for messages: "connect ECONNREFUSED ...". */
export function describePgError(e: unknown): string {
  if (e instanceof postgres.PostgresError) return `${e.message} (SQLSTATE ${e.code})`;
  return (e as Error)?.message ?? String(e);
}

/** Opens a connection pool to `url` (passwords and URL syntax as libpq takes them). */
export function connectPostgres(url: string, max: number): postgres.Sql {
  return postgres(url, {
    max,
    connect_timeout: 5,
    idle_timeout: 300,
    onnotice: () => {}, // "relation already exists, skipping" from CREATE ... IF NOT EXISTS
    connection: { application_name: "extremail" },
  });
}

export class PostgresBackend implements DirectoryBackend {
  readonly description: string;
  readonly shared = true;
  readonly initial: DirectoryContent;
  readonly #sql: postgres.Sql;
  readonly #options: PostgresOptions;
  readonly #listeners: ChangeListener[] = [];
  readonly #follower: Follower;
  #lastSeq: number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    url: string,
    sql: postgres.Sql,
    options: PostgresOptions,
    loaded: { content: DirectoryContent; seq: number },
  ) {
    this.description = redactDirectoryUrl(url);
    this.#sql = sql;
    this.#options = options;
    this.initial = loaded.content;
    this.#lastSeq = loaded.seq;
    this.#follower = new Follower(url, sql, {
      catchUp: () => this.#serial(() => this.#catchUp(this.#sql, false)),
      resync: () => this.#serial(() => this.#resync()),
      lastSeq: () => this.#lastSeq,
      log: options.log,
    }, options);
  }

  /**
   * Connects, creates the tables when missing and reads everything. Throws a
   * DirectoryUnavailableError naming the URL (without its password) when it cannot.
   */
  static async open(url: string, options: PostgresOptions): Promise<PostgresBackend> {
    const sql = connectPostgres(url, 4);
    try {
      await sql.begin(async (tx) => {
        await lockDirectory(tx);
        await ensureSchema(tx);
      });
      const loaded = await sql.begin(
        "ISOLATION LEVEL REPEATABLE READ READ ONLY",
        (tx) => readContent(tx),
      );
      return new PostgresBackend(url, sql, options, loaded);
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw new DirectoryUnavailableError(
        `cannot open the directory database ${redactDirectoryUrl(url)}: ${describePgError(e)}`,
      );
    }
  }

  listen(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  commit(plan: () => DirectoryChange | null): Promise<DirectoryChange | null> {
    return this.#serial(async () => {
      let committing = false;
      let refusal: unknown = undefined;
      let written: { change: DirectoryChange; seq: number } | null = null;
      try {
        await this.#sql.begin(async (tx) => {
          await lockDirectory(tx);
          await this.#catchUp(tx, true);
          let change: DirectoryChange | null;
          try {
            change = plan();
          } catch (e) {
            refusal = e;
            throw e;
          }
          if (!change) return;
          await writeChange(tx, change);
          const [row] = await tx`INSERT INTO changes (node, change)
            VALUES (${this.#options.nodeName}, ${tx.json(change as postgres.JSONValue)})
            RETURNING seq`;
          await tx`SELECT pg_notify(${CHANGE_CHANNEL}, ${String(row.seq)})`;
          written = { change, seq: Number(row.seq) };
          committing = true;
        });
      } catch (e) {
        if (e === refusal) throw e; // the plan refused: nothing was written
        this.#options.log.warn(`directory write failed: ${describePgError(e)}`);
        throw new DirectoryUnavailableError(
          `the directory database failed (${describePgError(e)}): ${
            committing
              ? "the change may or may not have been made; SHOW tells once it is back"
              : "nothing was changed"
          }; mail is still served from the directory in memory`,
        );
      }
      if (!written) return null;
      const { change, seq } = written;
      this.#apply(change, seq);
      return change;
    });
  }

  follow(): void {
    this.#follower.start();
  }

  async sharedSecret(name: string, make: () => string): Promise<string> {
    await this.#sql`INSERT INTO secrets (name, value) VALUES (${name}, ${make()})
      ON CONFLICT (name) DO NOTHING`;
    const [row] = await this.#sql`SELECT value FROM secrets WHERE name = ${name}`;
    return String(row.value);
  }

  async close(): Promise<void> {
    await this.#follower.stop();
    await this.#queue.catch(() => {});
    await this.#sql.end({ timeout: 5 });
  }

  /** Runs `work` after every write and catch-up started before it. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Applies the changes committed after the last one seen, in order; a change log that
   * was pruned past it, or a migration, means reading everything again.
   */
  async #catchUp(sql: postgres.Sql | postgres.TransactionSql, inWrite: boolean): Promise<void> {
    const [pruned] = await sql`SELECT value FROM extremail_meta WHERE name = 'pruned_upto'`;
    if (this.#lastSeq < Number(pruned?.value ?? 0)) return await this.#reload(sql, inWrite);
    const rows = await sql`SELECT seq, change FROM changes WHERE seq > ${this.#lastSeq}
      ORDER BY seq`;
    for (const row of rows) {
      // Records in the mirror are immutable, as the ones made on this node are.
      const change = deepFreeze(row.change as DirectoryChange);
      if (change.op === "reload") return await this.#reload(sql, inWrite);
      this.#apply(change, Number(row.seq));
    }
  }

  /**
   * Everything read again: in one REPEATABLE READ snapshot, or inside a write transaction
   * (`inWrite`), whose directory lock keeps every other writer out.
   */
  async #reload(sql: postgres.Sql | postgres.TransactionSql, inWrite: boolean): Promise<void> {
    const loaded = inWrite ? await readContent(sql) : await (sql as postgres.Sql).begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      (tx) => readContent(tx),
    );
    this.#lastSeq = loaded.seq;
    for (const listener of this.#listeners) listener.reloaded(loaded.content);
  }

  #resync(): Promise<void> {
    return this.#reload(this.#sql, false);
  }

  #apply(change: DirectoryChange, seq: number): void {
    this.#lastSeq = seq;
    for (const listener of this.#listeners) listener.applied(change);
  }
}
