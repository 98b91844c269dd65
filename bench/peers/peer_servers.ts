/**
 * The peer servers (Postfix + Dovecot from Debian, loopback only) for bench:peers:
 * install them if missing, start/stop them with the shared peers.sh, and leave them as
 * they were found. peers.sh renders a configuration with default_transport=error, so
 * Postfix never delivers off the machine; nothing here changes that configuration.
 */
import { join } from "node:path";
import { run } from "./proc.ts";
import { exists } from "../../src/store/fsutil.ts";

export const PEER_PORTS = { smtp: 10025, pop3: 10110, imap: 10143 } as const;
export const PEER_PACKAGES = ["postfix", "dovecot-imapd", "dovecot-pop3d"];

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Tools peers.sh needs plus Dovecot's imap/pop3 binaries; returns what is missing. */
export async function missingPieces(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["postfix", "postconf", "dovecot", "doveadm", "doveconf"]) {
    const r = await run("sh", ["-c", `command -v ${tool}`]);
    if (r.code !== 0) missing.push(tool);
  }
  // smtp-source is Postfix's load generator (same package): the one-message-per-connection loads.
  for (const bin of ["/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3", "/usr/sbin/smtp-source"]) {
    if (!await exists(bin)) missing.push(bin);
  }
  return missing;
}

/**
 * apt-get install of the peer packages. Postfix is preseeded to "No configuration" and
 * a temporary policy-rc.d keeps the packages' own system instances from starting
 * (the benchmark runs its own instances through peers.sh).
 */
export async function installPeers(say: (s: string) => void): Promise<void> {
  say(`installing ${PEER_PACKAGES.join(" ")} with apt-get (once)`);
  await run("sh", ["-c", "debconf-set-selections"], {
    input: new TextEncoder().encode(
      "postfix postfix/main_mailer_type select No configuration\n" +
        "postfix postfix/mailname string bench.invalid\n",
    ),
  });
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !await exists(policy);
  if (ownPolicy) {
    await Deno.writeTextFile(
      policy,
      "#!/bin/sh\n# bench:peers: no daemons during install\nexit 101\n",
      {
        mode: 0o755,
      },
    );
  }
  try {
    const env = {
      DEBIAN_FRONTEND: "noninteractive",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const install = () =>
      run("apt-get", ["install", "-y", "--no-install-recommends", ...PEER_PACKAGES], {
        env,
        timeoutMs: 900_000,
      });
    let r = await install();
    if (r.code !== 0) {
      say("apt-get install failed; running apt-get update and retrying");
      await run("apt-get", ["update"], { env, timeoutMs: 600_000 });
      r = await install();
    }
    if (r.code !== 0) {
      throw new Error(
        `apt-get install ${PEER_PACKAGES.join(" ")} failed:\n${
          (r.stdout + r.stderr).split("\n").slice(-8).join("\n")
        }`,
      );
    }
  } finally {
    if (ownPolicy) await Deno.remove(policy).catch(() => {});
  }
}

export interface PeerState {
  dovecot: boolean;
  postfix: boolean;
}

export class Peers {
  constructor(readonly script: string, readonly root: string) {}

  async status(): Promise<PeerState> {
    const r = await run("bash", [this.script, "status"], { env: { PEERS_ROOT: this.root } });
    return {
      dovecot: /^dovecot: running/m.test(r.stdout),
      postfix: /^postfix: running/m.test(r.stdout),
    };
  }

  async start(): Promise<void> {
    // Output to a file, not a pipe: the daemons it starts would hold a pipe open.
    const logFile = await Deno.makeTempFile({ prefix: "bench-peers-start-" });
    try {
      const r = await run("bash", ["-c", '"$0" start >"$1" 2>&1', this.script, logFile], {
        env: { PEERS_ROOT: this.root },
        timeoutMs: 120_000,
      });
      if (r.code !== 0) {
        const text = await Deno.readTextFile(logFile).catch(() => "");
        throw new Error(`peers.sh start failed: ${text.trim().split("\n").slice(-3).join(" / ")}`);
      }
    } finally {
      await Deno.remove(logFile).catch(() => {});
    }
  }

  /** Stops whichever of the two was not running in `before`. */
  async restore(before: PeerState): Promise<void> {
    if (!before.dovecot && !before.postfix) {
      await run("bash", [this.script, "stop"], {
        env: { PEERS_ROOT: this.root },
        timeoutMs: 60_000,
        cleanup: true,
      });
      return;
    }
    if (!before.postfix) {
      await run("postfix", ["-c", join(this.root, "postfix/etc"), "stop"], {
        timeoutMs: 60_000,
        cleanup: true,
      });
    }
    if (!before.dovecot) {
      await run("doveadm", ["-c", join(this.root, "dovecot/dovecot.conf"), "stop"], {
        timeoutMs: 60_000,
        cleanup: true,
      });
    }
  }

  /** Files in Postfix's incoming/active/deferred/maildrop queues (0 = drained). */
  async queuedFiles(): Promise<number> {
    let n = 0;
    const walk = async (dir: string) => {
      try {
        for await (const e of Deno.readDir(dir)) {
          if (e.isDirectory) await walk(join(dir, e.name));
          else n++;
        }
      } catch { /* missing queue directory */ }
    };
    for (const q of ["maildrop", "incoming", "active", "deferred", "hold"]) {
      await walk(join(this.root, "postfix/spool", q));
    }
    return n;
  }

  /** Waits until Postfix has delivered everything it accepted; returns the ms waited. */
  async waitQueueEmpty(timeoutMs = 300_000): Promise<number> {
    const t0 = Date.now();
    while (await this.queuedFiles() > 0) {
      if (Date.now() - t0 > timeoutMs) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return Date.now() - t0;
  }

  /** Removes the Maildirs of SMTP-ingest sink users so repeated runs do not pile up mail. */
  async clearMaildirs(users: Iterable<number>): Promise<void> {
    for (const n of users) {
      await Deno.remove(join(this.root, "dovecot/mail", `testuser${n}`), { recursive: true })
        .catch(() => {});
    }
  }

  async dovecotMasterPid(): Promise<number | null> {
    try {
      const pid = Number(
        (await Deno.readTextFile(join(this.root, "dovecot/run/master.pid"))).trim(),
      );
      return pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }
}
