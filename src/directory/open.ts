/**
 * The directory backend the configuration asks for (SPEC §12 `Directory`): "sqlite", the
 * file under DirBase, or a PostgreSQL URL shared by every node. The composition root
 * (src/server/server.ts) builds the Directory and, with a shared backend, the shared DKIM
 * key store and SRS secret over it.
 */
import type { Config } from "../config/schema.ts";
import type { DirectoryBackend } from "./changes.ts";
import { PostgresBackend, type PostgresOptions } from "./postgres/backend.ts";
import { SqliteBackend } from "./sqlite.ts";

export async function openDirectoryBackend(
  config: Pick<Config, "Directory" | "DirBase" | "NodeName">,
  log: PostgresOptions["log"],
  follow: Omit<PostgresOptions, "nodeName" | "log"> = {},
): Promise<DirectoryBackend> {
  if (config.Directory === "sqlite") return SqliteBackend.open(config.DirBase);
  return await PostgresBackend.open(config.Directory, {
    nodeName: config.NodeName,
    log,
    ...follow,
  });
}
