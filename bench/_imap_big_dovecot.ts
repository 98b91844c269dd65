/**
 * A private Dovecot 2.3 instance for the big-mailbox comparison of bench/imap.ts: its own
 * configuration, port, run and state directories under a temporary directory (never the
 * shared bench:peers instance, which other runs may be using), serving one user whose
 * Maildir is a hard-linked copy of ours (the same files; each server renames its own
 * directory entries). Mail processes run as the `vmail` system user (created like
 * peers.sh does when missing). Needs root and Debian's dovecot-imapd.
 */
import { join } from "node:path";
import { freePort } from "../tests/helpers/server.ts";
import { cpuMs } from "./_daemon.ts";

export interface PrivateDovecot {
  port: number;
  user: string;
  password: string;
  maildir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** VmRSS of the imap processes serving sessions now (bytes, summed). */
  imapRss(): number;
  /** CPU time (user + system, ms) the imap processes used so far, summed. */
  imapCpu(): number;
  remove(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${text.trim()}`);
  return text;
}

export async function dovecotAvailable(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    await Deno.stat("/usr/lib/dovecot/imap");
    await sh("sh", ["-c", "command -v dovecot"]);
    return true;
  } catch {
    return false;
  }
}

function procStat(pid: string): { comm: string; ppid: number } | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const ppid = Number(s.slice(close + 2).split(" ")[1]);
    return { comm, ppid };
  } catch {
    return null;
  }
}

function rssOf(pid: string): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Sets up the instance with a copy (hard links) of the Maildir directories `sources`
 * (new/, cur/ of our folder); does not start it.
 */
export async function privateDovecot(source: string): Promise<PrivateDovecot> {
  const root = await Deno.makeTempDir({ prefix: "extremail-bench-dovecot-" });
  await Deno.chmod(root, 0o755);
  const user = "big", password = "pass";
  const home = join(root, "mail", user);
  const maildir = join(home, "Maildir");
  await Deno.mkdir(maildir, { recursive: true });
  for (const sub of ["cur", "new", "tmp"]) {
    await sh("cp", ["-al", join(source, sub), join(maildir, sub)]);
  }
  try {
    await sh("getent", ["passwd", "vmail"]);
  } catch {
    await sh("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      "vmail",
    ]);
  }
  await sh("chown", ["-R", "vmail:vmail", join(root, "mail")]);
  for (const d of ["run", "state", "log"]) await Deno.mkdir(join(root, d));
  const port = freePort();
  const conf = join(root, "dovecot.conf");
  await Deno.writeTextFile(join(root, "users"), `${user}:{PLAIN}${password}::::::\n`);
  await sh("chgrp", ["dovecot", join(root, "users")]);
  await Deno.chmod(join(root, "users"), 0o640);
  await Deno.writeTextFile(
    conf,
    `# bench/imap.ts big-mailbox comparison: close to Dovecot 2.3 defaults.
protocols = imap
listen = 127.0.0.1
base_dir = ${root}/run
state_dir = ${root}/state
instance_name = extremail-bench-${port}
log_path = ${root}/log/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 100
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${root}/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=${root}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 1000
}
`,
  );
  let masterPid = 0;
  const waitPort = async () => {
    for (let i = 0; i < 100; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`dovecot did not listen on ${port} (see ${root}/log/dovecot.log)`);
  };
  const imapPids = () => {
    const out: string[] = [];
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const st = procStat(e.name);
      if (st?.comm === "imap" && st.ppid === masterPid) out.push(e.name);
    }
    return out;
  };
  const self: PrivateDovecot = {
    port,
    user,
    password,
    maildir,
    async start() {
      // No pipes: the daemon it forks would hold them open.
      const out = await new Deno.Command("dovecot", {
        args: ["-c", conf],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      if (!out.success) throw new Error(`dovecot -c ${conf} failed (see ${root}/log)`);
      await waitPort();
      // Written by the daemon once it has detached.
      for (let i = 0; i < 100 && !masterPid; i++) {
        const text = await Deno.readTextFile(join(root, "run", "master.pid")).catch(() => "");
        masterPid = Number(text.trim()) || 0;
        if (!masterPid) await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (!masterPid) return;
      const pid = masterPid;
      masterPid = 0;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* gone */ }
      for (let i = 0; i < 100 && procStat(String(pid)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    imapRss() {
      let sum = 0;
      for (const pid of imapPids()) sum += rssOf(pid);
      return sum;
    },
    imapCpu() {
      let sum = 0;
      for (const pid of imapPids()) sum += cpuMs(Number(pid));
      return sum;
    },
    async remove() {
      await self.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  return self;
}
