/**
 * Helpers for `extremail import` tests: a DirBase with users and a configuration file
 * (for the command, and for startTestServer({dirBase}) later), the command run as a
 * child process, and what an IMAP client sees of a mailbox (imap_snapshot.py).
 */
import { join } from "node:path";
import { formatConfig } from "../../src/config/format.ts";
import { devDefaults } from "../../src/config/load.ts";
import { seedUsers } from "./imap.ts";
import { python, REPO } from "./server.ts";

export interface ImportSite {
  dirBase: string;
  confPath: string;
  roots: Record<string, string>;
}

/** A DirBase with these users (address -> password) and a configuration naming it. */
export async function importSite(users: Record<string, string>): Promise<ImportSite> {
  const seed = await seedUsers(users);
  const confPath = join(seed.dirBase, "import.toml");
  await Deno.writeTextFile(
    confPath,
    formatConfig({ ...devDefaults(), DirBase: join(seed.dirBase, "data"), HashDirs: 2 }),
  );
  return { dirBase: seed.dirBase, confPath, roots: seed.roots };
}

export interface ImportResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main.ts import ARGS --conf CONF` and returns its exit status and output. */
export async function runImportCommand(confPath: string, args: string[]): Promise<ImportResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(REPO, "main.ts"), "import", ...args, "--conf", confPath],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

export interface SnapshotMessage {
  uid: number;
  flags: string[];
  internaldate: number;
  size: number;
  sha256: string;
}

export interface Snapshot {
  subscribed: string[];
  folders: Record<string, { uidvalidity: number; uidnext: number; messages: SnapshotMessage[] }>;
}

/** Every selectable folder as an IMAP client sees it (python3 imaplib). */
export async function imapSnapshot(
  port: number,
  user: string,
  password: string,
): Promise<Snapshot> {
  const script = await Deno.readTextFile(join(REPO, "tests", "helpers", "imap_snapshot.py"));
  return JSON.parse(await python(script, ["127.0.0.1", String(port), user, password]));
}
