/**
 * QUOTA (RFC 2087, RFC 9208): one quota root "" per user, the STORAGE resource in
 * units of 1024 octets — the user's QUOTA from the directory (SPEC §5), usage from
 * the mail store. Limits are set on the admin port, so SETQUOTA is refused.
 */
import { bad, mailboxName, no, wireName } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import type { Session } from "./session.ts";
import { openFolderOrFail } from "./status.ts";

async function quotaLine(s: Session): Promise<string | null> {
  const user = s.user && s.ctx.directory.getUser(s.user.name, s.user.domain);
  const quota = user?.quota ?? 0;
  if (quota <= 0) return null;
  const used = await s.ctx.store.usage(s.root);
  return `* QUOTA "" (STORAGE ${Math.ceil(used / 1024)} ${Math.floor(quota / 1024)})\r\n`;
}

const getquotarootCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = mailboxName(args.astring("mailbox name"), s.utf8);
    args.end();
    await openFolderOrFail(s, name);
    const line = await quotaLine(s);
    s.out.text(`* QUOTAROOT ${wireName(s, name)}${line ? ' ""' : ""}\r\n`);
    if (line) s.out.text(line);
    return { text: "GETQUOTAROOT completed" };
  },
};

const getquotaCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const root = args.astring("quota root");
    args.end();
    const line = root === "" ? await quotaLine(s) : null;
    if (!line) throw no("No such quota root", "NONEXISTENT");
    s.out.text(line);
    return { text: "GETQUOTA completed" };
  },
};

const setquotaCommand: CommandSpec = {
  states: AUTHED,
  run(_s, { args }) {
    args.astring("quota root");
    if (args.take("resource limits").kind !== "list") throw bad("Expected resource limits");
    return Promise.reject(no("Quotas are set by the administrator", "NOPERM"));
  },
};

export const QUOTA_COMMANDS: Record<string, CommandSpec> = {
  GETQUOTAROOT: getquotarootCommand,
  GETQUOTA: getquotaCommand,
  SETQUOTA: setquotaCommand,
};
