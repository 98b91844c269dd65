/**
 * `extremail migrate-directory --to URL [--node NAME] [--conf FILE]` (SPEC §12): the
 * command line around migrate.ts. Exit status 0 when everything was copied, 1 when the
 * migration was refused or failed (nothing copied), 64 for a wrong command line, 78 for a
 * bad configuration.
 */
import { parseArgs } from "node:util";
import { checkDirectory } from "../config/cluster.ts";
import { loadConfig } from "../config/load.ts";
import { ConfigError } from "../config/schema.ts";
import { migrateDirectory, MigrationError, summaryLine } from "./migrate.ts";
import { NameError, normalizeNodeName } from "./names.ts";

export const MIGRATE_USAGE =
  "extremail migrate-directory --to postgres://user:password@host:port/db [--node NAME] [--conf FILE]";

function fail(message: string, code: number): number {
  console.error(`extremail migrate-directory: ${message}`);
  return code;
}

export async function runMigrateDirectory(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        to: { type: "string" },
        node: { type: "string" },
        conf: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (e) {
    return fail(`${(e as Error).message}\n${MIGRATE_USAGE}`, 64);
  }
  if (parsed.values.help) {
    console.log(MIGRATE_USAGE);
    return 0;
  }
  const url = parsed.values.to;
  if (!url) return fail(`--to URL is required\n${MIGRATE_USAGE}`, 64);
  const urlProblem = url === "sqlite" ? "names SQLite, not PostgreSQL" : checkDirectory(url);
  if (urlProblem) return fail(`--to ${urlProblem}`, 64);

  let config;
  try {
    config = (await loadConfig({ path: parsed.values.conf })).config;
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message, 78);
    throw e;
  }
  if (config.Directory !== "sqlite") {
    return fail(
      "the configuration's Directory is already PostgreSQL; give the single machine's" +
        " configuration, whose SQLite directory is to be copied (--conf)",
      1,
    );
  }
  let node = config.NodeName;
  if (parsed.values.node !== undefined) {
    try {
      node = normalizeNodeName(parsed.values.node);
    } catch (e) {
      if (e instanceof NameError) return fail(`--node: ${e.message}`, 64);
      throw e;
    }
  }
  const nodes = Object.keys(config.Nodes);
  if (nodes.length > 0 && !nodes.includes(node)) {
    return fail(`--node ${node} is not one of Nodes (${nodes.join(", ")})`, 64);
  }
  try {
    const summary = await migrateDirectory({
      dirBase: config.DirBase,
      url,
      node,
      warn: (text) => console.error(`extremail migrate-directory: ${text}`),
    });
    console.log(summaryLine(summary));
    return 0;
  } catch (e) {
    if (e instanceof MigrationError) return fail(e.message, 1);
    throw e;
  }
}
