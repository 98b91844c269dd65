/**
 * A real PostgreSQL server for the directory tests (Debian's `postgresql`: initdb, pg_ctl),
 * started on a free loopback port in a temporary directory and removed afterwards:
 *
 *   testUnless(postgresMissing, { name: "...", async fn() {
 *     const pg = await startPostgres();
 *     try { const url = await pg.createDatabase(); ... } finally { await pg.remove(); }
 *   }});
 *
 * PostgreSQL refuses to run as root, and tests run as root here and in CI: the server then
 * runs as "nobody" (setpriv), owning its data directory. Clients log in over TCP with a
 * password (SCRAM), as a production node would. fsync is off: these tests never crash the
 * database server, and a shared 2-core machine should not wait on it.
 */
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "./server.ts";

/** The bin directory of the newest installed PostgreSQL, or null. */
function findBinDir(): string | null {
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((d) => Number(d.name))
      .filter((v) => Number.isFinite(v)).sort((a, b) => b - a);
  } catch {
    return null;
  }
  for (const v of versions) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    try {
      Deno.statSync(join(bin, "initdb"));
      Deno.statSync(join(bin, "pg_ctl"));
      return bin;
    } catch { /* next version */ }
  }
  return null;
}

const BIN = findBinDir();
const IS_ROOT = Deno.uid() === 0;
const HAVE_SETPRIV = (() => {
  try {
    Deno.statSync("/usr/bin/setpriv");
    return true;
  } catch {
    return false;
  }
})();

/** Why these tests cannot run here, or null when they can. */
export const postgresMissing: string | null = BIN === null
  ? "PostgreSQL is not installed (apt-get install postgresql: /usr/lib/postgresql/*/bin/initdb)"
  : IS_ROOT && !HAVE_SETPRIV
  ? "setpriv (util-linux) is needed to run PostgreSQL as nobody"
  : null;

export const PG_USER = "extremail";
export const PG_PASSWORD = "pg-test-password";

export interface TestPostgres {
  port: number;
  /** The URL of a database on this server (the `Directory` key's form). */
  url(database: string, port?: number): string;
  /** Creates an empty database; resolves to its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs SQL on a database as the superuser (test set-up and checks). */
  query(database: string, text: string): Promise<Record<string, unknown>[]>;
  /** Stops the server (fast: connections are cut), keeping its data. */
  halt(): Promise<void>;
  /** Starts it again on the same port after halt(). */
  start(): Promise<void>;
  /** Stops the server and removes every file of it. */
  remove(): Promise<void>;
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const asNobody = IS_ROOT
    ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    : [];
  const argv = [...asNobody, ...cmd];
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { LANG: "C", LC_ALL: "C", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed (${out.code}): ${text}`);
  return text;
}

let counter = 0;

export async function startPostgres(): Promise<TestPostgres> {
  if (BIN === null) throw new Error(postgresMissing ?? "no PostgreSQL");
  const dir = await Deno.makeTempDir({ prefix: "extremail-pg-" });
  try {
    return await startIn(dir);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function startIn(dir: string): Promise<TestPostgres> {
  if (BIN === null) throw new Error(postgresMissing ?? "no PostgreSQL");
  const data = join(dir, "data");
  const socketDir = join(dir, "run");
  await Deno.mkdir(socketDir);
  const pwfile = join(dir, "pwfile");
  await Deno.writeTextFile(pwfile, PG_PASSWORD + "\n");
  if (IS_ROOT) {
    await Deno.chmod(dir, 0o700);
    for (const p of [dir, socketDir, pwfile]) await Deno.chown(p, 65534, 65534);
  }
  await run([
    join(BIN, "initdb"),
    "-D",
    data,
    "-U",
    PG_USER,
    `--pwfile=${pwfile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-locale",
    "--encoding=UTF8",
  ]);
  const port = freePort();
  const logFile = join(dir, "postgres.log");
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${socketDir}`,
    "-c fsync=off",
    "-c shared_buffers=16MB",
    "-c max_connections=60",
  ].join(" ");
  const start = () =>
    run([join(BIN, "pg_ctl"), "-D", data, "-l", logFile, "-o", options, "-w", "-t", "60", "start"]);
  const halt = () => run([join(BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]);
  await start();
  let running = true;

  const url = (database: string, p = port) =>
    `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${p}/${database}`;
  const query = async (database: string, text: string) => {
    const sql = postgres(url(database), { max: 1, onnotice: () => {} });
    try {
      return [...await sql.unsafe(text)] as Record<string, unknown>[];
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
  return {
    port,
    url,
    query,
    async createDatabase(name = `db${++counter}`) {
      await query("postgres", `CREATE DATABASE ${name}`);
      return url(name);
    },
    async halt() {
      await halt();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async remove() {
      try {
        if (running) await halt();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}
