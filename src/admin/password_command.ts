/**
 * `extremail admin-password [--conf FILE]` (SPEC §10): sets a new admin password directly
 * in DirBase, for a lost one. The password comes from EXTREMAIL_ADMIN_PASSWORD, else it
 * is asked twice on the terminal, else a random one is made and printed once on stdout.
 * A running daemon sees the new file at the next LOGIN (AdminPassword re-reads it).
 */
import { loadConfig } from "../config/load.ts";
import { AdminPassword } from "../directory/adminpass.ts";
import { randomPassword } from "../directory/password.ts";
import { promptPassword } from "./client.ts";

export const ADMIN_PASSWORD_HELP = `Usage: extremail admin-password [--conf FILE]

Sets a new admin password in DirBase (the file admin.passwd, stored hashed), for
example when the one printed at the first start is lost. The password is taken from
the environment variable EXTREMAIL_ADMIN_PASSWORD, else asked twice on the terminal,
else a random one is generated and printed once on stdout. A running daemon accepts
it from the next LOGIN; no restart is needed.

Exit status: 0 when the password was stored, 1 when it was not.`;

export interface AdminPasswordResult {
  code: number;
  /** The line for stdout (the generated password), or "". */
  out: string;
  /** Lines for stderr. */
  err: string[];
}

/** Where the new password comes from; null with the reason when there is none. */
async function choosePassword(): Promise<
  { password: string; generated: boolean } | { problem: string }
> {
  const fromEnv = Deno.env.get("EXTREMAIL_ADMIN_PASSWORD");
  if (fromEnv) return { password: fromEnv, generated: false };
  if (!Deno.stdin.isTerminal()) return { password: randomPassword(), generated: true };
  const first = await promptPassword("New admin password: ");
  if (first === null) return { problem: "no password entered; nothing changed" };
  if (first === "") {
    return { problem: "an empty password is not accepted; nothing changed" };
  }
  const again = await promptPassword("The same again: ");
  if (again !== first) return { problem: "the two passwords differ; nothing changed" };
  return { password: first, generated: false };
}

/** As root, the new file gets DirBase's owner: the daemon may run as another user. */
async function giveToDirBaseOwner(dirBase: string, file: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  const st = await Deno.stat(dirBase);
  if (st.uid !== null && st.gid !== null && (st.uid !== 0 || st.gid !== 0)) {
    await Deno.chown(file, st.uid, st.gid);
  }
}

export async function setAdminPassword(confPath: string | undefined): Promise<AdminPasswordResult> {
  const { config, source } = await loadConfig({ path: confPath });
  const chosen = await choosePassword();
  if ("problem" in chosen) return { code: 1, out: "", err: [chosen.problem] };
  if (/[\r\n]/.test(chosen.password)) {
    return { code: 1, out: "", err: ["the password contains a line break; nothing changed"] };
  }
  await Deno.mkdir(config.DirBase, { recursive: true, mode: 0o750 });
  const adminPassword = new AdminPassword(config.DirBase);
  await adminPassword.set(chosen.password);
  await giveToDirBaseOwner(config.DirBase, adminPassword.path);
  const where = `${adminPassword.path} (configuration ${
    source ?? "embedded development defaults"
  })`;
  return {
    code: 0,
    out: chosen.generated ? `admin password (generated, shown once): ${chosen.password}` : "",
    err: [
      `admin password stored in ${where}; a running daemon accepts it from the next LOGIN`,
    ],
  };
}
