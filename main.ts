/**
 * eXtremail command line (SPEC §2):
 *   extremail [serve] [--conf FILE]
 *   extremail check-conf [--conf FILE]
 *   extremail admin [--host H] [--port P] [--password-file F] [COMMAND WORDS...]
 *   extremail convert-conf FILE
 *   extremail admin-password [--conf FILE]   (SPEC §10)
 *   extremail import maildir|mbox --user USER@DOMAIN ... (SPEC §11)
 *   extremail migrate-directory --to URL [--node NAME] (SPEC §12)
 *   extremail --version | --help | ?
 */
import { parseArgs } from "node:util";
import { loadConfig } from "./src/config/load.ts";
import { ConfigError } from "./src/config/schema.ts";
import { formatConfig } from "./src/config/format.ts";
import { convertClassic } from "./src/config/convert.ts";
import { log, setupLogging } from "./src/log.ts";
import { startServer } from "./src/server/server.ts";
import { runAdminClient } from "./src/admin/client.ts";
import { ADMIN_PASSWORD_HELP, setAdminPassword } from "./src/admin/password_command.ts";
import { VERSION } from "./src/version.ts";
import { runImport } from "./src/import/cli.ts";
import { runMigrateDirectory } from "./src/directory/migrate_cli.ts";
import { DirectoryUnavailableError } from "./src/directory/records.ts";

export const HELP =
  `eXtremail ${VERSION}: SMTP, POP3, IMAP4 and a telnet administration port in one daemon.

Usage:
  extremail [serve] [--conf FILE]        run the daemon in the foreground (logs to stderr or LogFile)
  extremail check-conf [--conf FILE]     validate the configuration, print the effective values
  extremail admin [--host H] [--port P] [--password-file F] [COMMAND WORDS...]
                                         admin client: one command, or interactive without words
  extremail convert-conf FILE            translate a classic eXtremail.conf to TOML on stdout
  extremail admin-password [--conf FILE] set a new admin password in DirBase (a lost one)
  extremail import maildir --user USER@DOMAIN [--dry-run] PATH
  extremail import mbox --user USER@DOMAIN [--folder NAME] [--dry-run] FILE...
                                         import a Maildir tree or mbox files (also --conf FILE)
  extremail migrate-directory --to postgres://user:pass@host:port/db [--node NAME] [--conf FILE]
                                         copy this machine's SQLite directory into an empty
                                         PostgreSQL database (several machines, docs/cluster.md)
  extremail --version | --help | ?

The configuration file is --conf, else $EXTREMAIL_CONF, else /etc/extremail/extremail.toml;
with none of them the server runs on development defaults (127.0.0.1, SMTP 2525,
Submission 2587, POP3 1110, IMAP 1143, Admin 4501, data in ./extremail-data).
`;

function fail(message: string, code = 1): number {
  console.error(`extremail: ${message}`);
  return code;
}

/** Every problem of a configuration file, one line each (check-conf, convert-conf, serve). */
function failConfig(error: ConfigError, code: number): number {
  for (const problem of error.problems) console.error(`extremail: ${problem}`);
  return code;
}

async function serve(confPath: string | undefined): Promise<number> {
  const { config, source } = await loadConfig({ path: confPath });
  await setupLogging(config);
  const logger = log("server");
  const server = await startServer(config, source);
  const onStop = () => server.ctx.requestStop();
  Deno.addSignalListener("SIGINT", onStop);
  Deno.addSignalListener("SIGTERM", onStop);
  const onHup = () => {
    server.ctx.reload().catch((e) => logger.error(`reload failed: ${e.message}`));
  };
  Deno.addSignalListener("SIGHUP", onHup);
  await server.stopped;
  Deno.removeSignalListener("SIGINT", onStop);
  Deno.removeSignalListener("SIGTERM", onStop);
  Deno.removeSignalListener("SIGHUP", onHup);
  return 0;
}

async function checkConf(confPath: string | undefined): Promise<number> {
  let loaded;
  try {
    loaded = await loadConfig({ path: confPath });
  } catch (e) {
    // Every error of the file, each with its line, then exit status 1.
    if (e instanceof ConfigError) return failConfig(e, 1);
    throw e;
  }
  const { config, source } = loaded;
  console.log(`# effective configuration from ${source ?? "embedded development defaults"}`);
  console.log(formatConfig(config));
  return 0;
}

async function convertConf(file: string | undefined): Promise<number> {
  if (!file) return fail("convert-conf needs the classic eXtremail.conf to read", 64);
  let result;
  try {
    result = convertClassic(await Deno.readTextFile(file), file);
  } catch (e) {
    if (e instanceof ConfigError) return failConfig(e, 1);
    throw e;
  }
  console.log(result.toml);
  for (const u of result.unknown) {
    console.error(`${file} line ${u.line}: unknown key ${u.key} (kept as a comment)`);
  }
  return 0;
}

/** `extremail admin-password [--conf FILE]` (SPEC §10). */
async function adminPassword(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { conf: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
      strict: true,
    });
  } catch (e) {
    return fail(`${(e as Error).message}; see extremail admin-password --help`, 64);
  }
  if (parsed.values.help) {
    console.log(ADMIN_PASSWORD_HELP);
    return 0;
  }
  try {
    const result = await setAdminPassword(parsed.values.conf);
    if (result.out) console.log(result.out);
    for (const line of result.err) console.error(`extremail: ${line}`);
    return result.code;
  } catch (e) {
    if (e instanceof ConfigError) return failConfig(e, 1);
    return fail(`admin-password: ${(e as Error).message}`, 1);
  }
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "?") {
    console.log(HELP);
    return 0;
  }
  // SPEC §11 migration: its own options and exit statuses (src/import/cli.ts).
  if (argv[0] === "import") return await runImport(argv.slice(1));
  // SPEC §12: the directory of one machine into PostgreSQL (src/directory/migrate_cli.ts).
  if (argv[0] === "migrate-directory") return await runMigrateDirectory(argv.slice(1));
  const verbs = ["serve", "check-conf", "admin", "convert-conf", "admin-password"];
  const verb = verbs.includes(argv[0])
    ? argv[0]
    : argv[0]?.startsWith("-") || !argv[0]
    ? "serve"
    : null;
  if (verb === null) return fail(`unknown command "${argv[0]}"; see extremail --help`, 64);
  const rest = argv[0] === verb ? argv.slice(1) : argv;
  if (verb === "admin") return await runAdminClient(rest);
  if (verb === "admin-password") return await adminPassword(rest);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        conf: { type: "string", short: "c" },
        version: { type: "boolean", short: "V" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: verb === "convert-conf",
      strict: true,
    });
  } catch (e) {
    return fail(`${(e as Error).message}; see extremail --help`, 64);
  }
  if (parsed.values.version) {
    console.log(VERSION);
    return 0;
  }
  if (parsed.values.help) {
    console.log(HELP);
    return 0;
  }
  try {
    switch (verb) {
      case "check-conf":
        return await checkConf(parsed.values.conf);
      case "convert-conf":
        return await convertConf(parsed.positionals[0]);
      default:
        return await serve(parsed.values.conf);
    }
  } catch (e) {
    if (e instanceof ConfigError) return failConfig(e, 78);
    // SPEC §12: the shared directory cannot be reached at start (EX_UNAVAILABLE).
    if (e instanceof DirectoryUnavailableError) return fail(e.message, 69);
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) {
      return fail((e as Error).message, 71);
    }
    if (e instanceof Error && /cannot listen/.test(e.message)) return fail(e.message, 71);
    throw e;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
