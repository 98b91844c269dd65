/**
 * `extremail import maildir|mbox` (SPEC §11): finds the user's mailbox through the
 * configuration and the directory, runs the import, prints the summary line on stdout.
 * Exit status: 0 when every message was imported or already present, 1 otherwise (or
 * when the import cannot start), 64 for a wrong command line, 78 for a bad configuration.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.ts";
import { ConfigError } from "../config/schema.ts";
import { Directory } from "../directory/directory.ts";
import { openDirectoryBackend } from "../directory/open.ts";
import { DirectoryUnavailableError } from "../directory/records.ts";
import { homeOf } from "../cluster/home.ts";
import { log } from "../log.ts";
import { MailStore } from "../store/mailstore.ts";
import { FolderNameError, folderToDir } from "../store/maildir_names.ts";
import { ImportReport } from "./progress.ts";
import { importMaildir, importMbox, type ImportTarget } from "./run.ts";

export const IMPORT_USAGE =
  `extremail import maildir --user USER@DOMAIN [--conf FILE] [--dry-run] PATH
extremail import mbox --user USER@DOMAIN [--folder NAME] [--conf FILE] [--dry-run] FILE...`;

function fail(message: string, code: number): number {
  console.error(`extremail import: ${message}`);
  return code;
}

/** Refuses to run as root over a DirBase the daemon's own user owns (files it could not use). */
async function ownerProblem(dirBase: string): Promise<string | null> {
  if (Deno.uid() !== 0) return null;
  let owner: number | null;
  try {
    owner = (await Deno.stat(dirBase)).uid;
  } catch {
    return null;
  }
  if (owner === null || owner === 0) return null;
  return `DirBase ${dirBase} belongs to uid ${owner}, and files made by root here could not be ` +
    `read by the daemon; run the import as that user (e.g. runuser -u extremail -- extremail import ...)`;
}

export async function runImport(args: string[]): Promise<number> {
  const kind = args[0];
  if (kind !== "maildir" && kind !== "mbox") {
    return fail(`say what to import: maildir or mbox\n${IMPORT_USAGE}`, 64);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: args.slice(1),
      options: {
        user: { type: "string", short: "u" },
        folder: { type: "string", short: "f" },
        conf: { type: "string", short: "c" },
        "dry-run": { type: "boolean", short: "n" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return fail(`${(e as Error).message}\n${IMPORT_USAGE}`, 64);
  }
  const { user: login, folder, conf } = parsed.values;
  const dryRun = parsed.values["dry-run"] ?? false;
  const paths = parsed.positionals;
  if (!login) return fail(`--user USER@DOMAIN is required\n${IMPORT_USAGE}`, 64);
  if (paths.length === 0 || (kind === "maildir" && paths.length > 1)) {
    return fail(
      `${kind === "maildir" ? "one Maildir PATH" : "one or more FILEs"} needed\n${IMPORT_USAGE}`,
      64,
    );
  }
  if (kind === "maildir" && folder !== undefined) {
    return fail("--folder is for mbox files (a Maildir brings its own folders)", 64);
  }
  const folderName = folder ?? "INBOX";
  try {
    folderToDir(folderName);
  } catch (e) {
    if (e instanceof FolderNameError) return fail(`--folder ${folderName}: ${e.message}`, 64);
    throw e;
  }

  let config;
  try {
    config = (await loadConfig({ path: conf })).config;
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message, 78);
    throw e;
  }
  const problem = await ownerProblem(config.DirBase);
  if (problem) return fail(problem, 1);
  if (config.Directory === "sqlite") {
    try {
      await Deno.stat(join(config.DirBase, "directory.sqlite"));
    } catch {
      return fail(
        `no directory in DirBase ${config.DirBase}: is --conf the daemon's configuration?`,
        1,
      );
    }
  }
  let record;
  try {
    // SPEC §12: the shared directory when the configuration names one.
    const directory = new Directory(await openDirectoryBackend(config, log("directory")));
    try {
      record = directory.findLogin(login);
    } finally {
      await directory.close();
    }
  } catch (e) {
    if (e instanceof DirectoryUnavailableError) return fail(e.message, 1);
    throw e;
  }
  if (!record) {
    // The fix as the admin port spells it (SPEC §4 USER ADD).
    const at = login.lastIndexOf("@");
    const add = at > 0
      ? `USER ADD NAME=${login.slice(0, at)} DOMAIN=${login.slice(at + 1)}`
      : "USER ADD NAME=<user> DOMAIN=<domain>";
    return fail(`no user ${login} in the directory of ${config.DirBase} (${add} first)`, 1);
  }
  if (homeOf(record, config) !== "local") {
    return fail(`${login} is homed on node ${record.node}, which holds its mail: import there`, 1);
  }
  const store = new MailStore(config.DirBase, config.HashDirs);
  const root = store.userRoot(record);
  if (!dryRun) await store.ensureMailbox(root);
  const report = new ImportReport();
  const target: ImportTarget = { store, root, dryRun, report };
  try {
    if (kind === "maildir") await importMaildir(target, paths[0]);
    else await importMbox(target, paths, folderName);
  } catch (e) {
    report.finish();
    report.error(kind === "maildir" ? paths[0] : "import", e);
    console.log(report.summary());
    return 1;
  }
  report.finish();
  if (dryRun) report.note("dry run: nothing was written; the counts say what an import would do");
  console.log(report.summary());
  return report.errors > 0 ? 1 : 0;
}
