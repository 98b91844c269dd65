/**
 * A real Dovecot IMAP server (Debian's dovecot-imapd) for import tests: started on a free
 * loopback port with a configuration written here (Maildir++ under a temp directory,
 * "/" hierarchy delimiter, plain-text logins from a passwd-file), always stopped after:
 *
 *   const dc = await startDovecot({ alice: "secret" });
 *   try { ... dc.port ... dc.maildir("alice") ... } finally { await dc.stop(); }
 *
 * Dovecot refuses to run mail processes as root, so the mail user is "nobody" and its
 * Maildirs belong to it. Tests using this need root (to start Dovecot as a system would).
 */
import { join } from "node:path";
import { freePort } from "./server.ts";

export const hasDovecot = (() => {
  try {
    Deno.statSync("/usr/sbin/dovecot");
    Deno.statSync("/usr/lib/dovecot/imap");
    return Deno.uid() === 0;
  } catch {
    return false;
  }
})();

export interface Dovecot {
  port: number;
  /** The Maildir root of a user. */
  maildir(user: string): string;
  /** Stops the server (its Maildirs stay, to be imported). */
  stop(): Promise<void>;
  /** Stops the server if running and deletes its directory. */
  remove(): Promise<void>;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text}`);
  return text;
}

export async function startDovecot(users: Record<string, string>): Promise<Dovecot> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-dovecot-" });
  const port = freePort();
  const conf = join(dir, "dovecot.conf");
  // Dovecot's unprivileged processes (auth as "nobody") read the users file in here.
  await Deno.chmod(dir, 0o755);
  for (const sub of ["run", "state", "mail"]) await Deno.mkdir(join(dir, sub));
  await run("chown", ["nobody:nogroup", join(dir, "mail")]);
  await Deno.writeTextFile(
    join(dir, "users"),
    Object.entries(users).map(([u, p]) => `${u}:{PLAIN}${p}\n`).join(""),
  );
  await Deno.writeTextFile(
    conf,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
default_internal_user = nobody
default_login_user = nobody
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${dir}/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
}
service anvil {
  chroot =
}
`,
  );
  // The master daemonizes and keeps inherited descriptors: no pipes to wait on.
  const started = await new Deno.Command("/usr/sbin/dovecot", {
    args: ["-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!started.success) {
    const log = await Deno.readTextFile(join(dir, "dovecot.log")).catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`dovecot -c ${conf} failed (exit ${started.code}): ${log}`);
  }
  const stop = async () => {
    let pid = 0;
    try {
      pid = Number((await Deno.readTextFile(join(dir, "run", "master.pid"))).trim());
    } catch { /* never started */ }
    await run("doveadm", ["-c", conf, "stop"]).catch(() => {
      if (pid) Deno.kill(pid, "SIGTERM");
    });
    for (let i = 0; pid && i < 100; i++) {
      try {
        Deno.kill(pid, "SIGCONT"); // still there?
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const remove = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready when the login listener accepts.
  const deadline = Date.now() + 15_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        const log = await Deno.readTextFile(join(dir, "dovecot.log")).catch(() => "");
        await remove();
        throw new Error(`dovecot did not listen on ${port}: ${e}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port, maildir: (user) => join(dir, "mail", user), stop, remove };
}
