/**
 * One bench:peers run's servers and what is known about them: ours (a daemon from
 * main.ts on a fresh DirBase) and the peer (Postfix and Dovecot through peers.sh), set up
 * and seeded with the same mail; why either column is n/a; what to undo at the end.
 */
import { join } from "node:path";
import type { Group, Target } from "./loads.ts";
import { POP3_SESSIONS } from "./loads.ts";
import { DOMAIN, OurServer, parseDump, REPO } from "./ours.ts";
import {
  installPeers,
  isRoot,
  missingPieces,
  PEER_PACKAGES,
  PEER_PORTS,
  Peers,
  type PeerState,
} from "./peer_servers.ts";
import { CreateProbe, prepareDataDir, settle, type SettleResult } from "./fs_probe.ts";
import { fmt, median } from "./table.ts";
import { checkAborted, failureReason, portOpen, type ProcResult, run } from "./proc.ts";

export const PASSWORD = "pass";
const USERS = 200;

/** The command line, checked (bench/peers.ts). */
export interface PeersOptions {
  rounds: number;
  /** Idle IMAP sessions for the memory figure. */
  idle: number;
  /** Messages per seeded mailbox. */
  messages: number;
  groups: Group[];
  targets: Target[];
  /** POP3/IMAP through lean_load.py (else the shared scripts). */
  lean: boolean;
  seedDirect: boolean;
  /** The shared bench directory (the Python loads, peers.sh). */
  bench: string;
  /** Where both sides' data go: ours-* (our DirBase) and peers (PEERS_ROOT). */
  dataDir: string;
  /** A create in a data directory is "quiet" at or below this (µs)... */
  settleUs: number;
  /** ...and each run waits at most this long for it (ms; 0: probe only). */
  settleMaxMs: number;
  say: (s: string) => void;
}

export class PeersRun {
  ours: OurServer | null = null;
  readonly peers: Peers;
  peerBefore: PeerState | null = null;
  peerReady = false;
  /** Why the peer column is n/a. */
  peerDown = "";
  /** Why our column is n/a. */
  oursDown = "";
  peerSinksDirty = false;
  /**
   * PEERS_ROOT unset: the peers run from a new directory under --data-dir made for this
   * run and removed after it, as our DirBase is, instead of a kept one whose sink Maildirs
   * are deleted before and after each run. Deleting thousands of files keeps creates in
   * that flex group slow for minutes (docs/performance.md, "Stop 37, branch benchfs").
   */
  readonly freshPeerRoot: boolean;
  seedNote = "";
  /** Create-cost probes in each side's data directory (fs_probe.ts). */
  readonly probes: Partial<Record<Target, CreateProbe>> = {};
  /** The settle step before each measured round, per target. */
  readonly settled: Record<Target, SettleResult[]> = { ours: [], peer: [] };

  constructor(readonly opts: PeersOptions) {
    const root = Deno.env.get("PEERS_ROOT");
    this.freshPeerRoot = !root;
    const fresh = () => `peers-${crypto.randomUUID().slice(0, 8)}`;
    this.peers = new Peers(join(opts.bench, "peers.sh"), root || join(opts.dataDir, fresh()));
  }

  /** Makes the data directory (prepareDataDir) and says where each side's files go. */
  async prepareDataDir(): Promise<void> {
    const note = await prepareDataDir(this.opts.dataDir);
    this.opts.say(`data directory ${this.opts.dataDir}${note ? `: ${note}` : " (chattr +T)"}`);
  }

  want(g: Group): boolean {
    return this.opts.groups.includes(g);
  }

  python(script: string, args: string[], timeoutMs = 900_000): Promise<ProcResult> {
    return run("python3", [join(this.opts.bench, script), "--host", "127.0.0.1", ...args], {
      timeoutMs,
    });
  }

  portFor(t: Target, g: "smtp" | "pop3" | "imap"): number {
    return t === "ours" ? this.ours!.ports[g] : PEER_PORTS[g];
  }

  /** Why target t cannot run a load of group g right now, or "" when it can. */
  async unavailable(t: Target, g: "smtp" | "pop3" | "imap"): Promise<string> {
    if (t === "ours") {
      if (this.oursDown) return this.oursDown;
      if (!this.ours?.running) {
        this.oursDown = "our server exited";
        this.opts.say(
          `our server exited unexpectedly; its last output:\n${this.ours?.logTail() ?? ""}`,
        );
        return this.oursDown;
      }
    } else if (this.peerDown) return this.peerDown;
    const port = this.portFor(t, g);
    return await portOpen(port) ? "" : `nothing listens on port ${port}`;
  }

  async preparePeer(): Promise<void> {
    if (!this.opts.targets.includes("peer")) {
      this.peerDown = "not selected";
      return;
    }
    try {
      await Deno.stat(join(this.opts.bench, "peers.sh"));
    } catch {
      this.peerDown = `no ${join(this.opts.bench, "peers.sh")}`;
      return;
    }
    const missing = await missingPieces();
    if (missing.length) {
      if (!isRoot()) {
        this.peerDown = "Postfix/Dovecot not installed";
        this.opts.say(
          `Postfix/Dovecot are missing (${missing.join(", ")}) and this is not root: run ` +
            `"sudo apt-get install ${PEER_PACKAGES.join(" ")}" or run bench:peers as root`,
        );
        return;
      }
      await installPeers(this.opts.say);
      const still = await missingPieces();
      if (still.length) {
        this.peerDown = `still missing after install: ${still.join(", ")}`;
        return;
      }
    }
    this.peerBefore = await this.peers.status();
    if (this.peerBefore.dovecot && this.peerBefore.postfix) {
      this.opts.say(
        "Postfix and Dovecot already run (peers.sh); using them and leaving them running",
      );
    } else if (!isRoot()) {
      this.peerDown = "peers.sh start needs root";
      this.opts.say("Postfix/Dovecot are not running and peers.sh start needs root");
      this.peerBefore = null;
      return;
    } else if (await portOpen(PEER_PORTS.smtp) || await portOpen(PEER_PORTS.imap)) {
      this.peerDown = `the peer ports are in use, not by peers.sh under ${this.peers.root}`;
      this.opts.say(
        `${this.peerDown}: stop the peers started from another PEERS_ROOT (e.g. ` +
          `"PEERS_ROOT=/opt/peers bash ${this.peers.script} stop") or set PEERS_ROOT to it`,
      );
      this.peerBefore = null;
      return;
    } else {
      this.opts.say(`starting Postfix and Dovecot with peers.sh (PEERS_ROOT ${this.peers.root})`);
      await this.peers.start();
    }
    this.peerReady = true;
    this.probes.peer = new CreateProbe(join(this.peers.root, `fs-probe-${Deno.pid}`));
  }

  async prepareOurs(): Promise<void> {
    if (!this.opts.targets.includes("ours")) {
      this.oursDown = "not selected";
      return;
    }
    this.opts.say(`creating our DirBase with ${USERS} users`);
    this.ours = await OurServer.create({
      users: USERS,
      password: PASSWORD,
      maxConnections: Math.max(1000, this.opts.idle + 200),
      parent: this.opts.dataDir,
    });
    this.opts.say(`our DirBase: ${this.ours.dirBase}`);
    this.probes.ours = new CreateProbe(join(this.ours.tmp, "fs-probe"));
    await this.ours.start();
    const p = this.ours.ports;
    this.opts.say(
      `our server (pid ${this.ours.pid}): SMTP ${p.smtp} POP3 ${p.pop3} IMAP ${p.imap} admin ${p.admin}`,
    );
  }

  /** Settles target t's data directory before a run (fs_probe.ts); measured runs are kept. */
  async settle(t: Target, measured: boolean): Promise<SettleResult | undefined> {
    const probe = this.probes[t];
    if (!probe) return undefined;
    const r = await settle(probe, { quietUs: this.opts.settleUs, maxMs: this.opts.settleMaxMs });
    if (measured) this.settled[t].push(r);
    return r;
  }

  /** What the settle steps found and waited, for under the table. */
  fsSummary(): string[] {
    const out = [
      `file system: data under ${this.opts.dataDir}; before each run, 100 O_EXCL creates in ` +
      `that side's data directory${
        this.opts.settleMaxMs
          ? `, waiting up to ${this.opts.settleMaxMs / 1000} s until one costs <= ` +
            `${this.opts.settleUs} µs`
          : ""
      } (measured rounds below)`,
    ];
    for (const t of this.opts.targets) {
      const s = this.settled[t];
      if (!s.length) continue;
      const us = s.map((r) => r.probe.us), waits = s.map((r) => r.waitedMs / 1000);
      const loud = s.filter((r) => !r.quiet).length;
      out.push(
        `  ${t} (${this.probes[t]!.dir}, inode ${s[0].probe.ino}): ${
          fmt(median(us))
        } µs/create median, ${fmt(Math.min(...us))}-${fmt(Math.max(...us))}` +
          (this.opts.settleMaxMs
            ? `; waited ${fmt(median(waits))} s median, ${fmt(Math.max(...waits))} max, ` +
              `${fmt(waits.reduce((a, b) => a + b, 0))} in all` +
              (loud ? `; ${loud} of ${s.length} runs started above the threshold` : "")
            : ""),
      );
    }
    return out;
  }

  async #seedOverImap(t: Target, user: string): Promise<ProcResult> {
    const login = t === "ours" ? `${user}@${DOMAIN}` : user;
    return await this.python("seed_imap.py", [
      "--port",
      String(this.portFor(t, "imap")),
      "--user",
      login,
      "--count",
      String(this.opts.messages),
      "--seed",
      "42",
      "--clear",
    ], 900_000);
  }

  #seedOk(r: ProcResult): boolean {
    return r.code === 0 &&
      new RegExp(`^seed_imap: ${this.opts.messages} messages`, "m").test(r.stdout);
  }

  async seed(): Promise<void> {
    const users = new Set<string>();
    if (this.want("pop3")) { for (let i = 1; i <= POP3_SESSIONS; i++) users.add(`testuser${i}`); }
    if (this.want("imap")) users.add("testuser3");
    if (!users.size) return;
    const list = [...users];
    if (this.peerReady) {
      for (const u of list) {
        checkAborted();
        this.opts.say(`seeding peer ${u} over IMAP (${this.opts.messages} messages, seed 42)`);
        const r = await this.#seedOverImap("peer", u);
        if (!this.#seedOk(r)) {
          this.peerDown = `seeding failed: ${failureReason(r)}`;
          this.opts.say(`peer ${this.peerDown}`);
          break;
        }
      }
    }
    if (!this.ours || this.oursDown) return;
    let failed = "";
    if (this.opts.seedDirect) failed = "--seed-direct";
    else if (await portOpen(this.ours.ports.imap)) {
      for (const u of list) {
        checkAborted();
        this.opts.say(
          `seeding our ${u} over IMAP APPEND (${this.opts.messages} messages, seed 42)`,
        );
        const r = await this.#seedOverImap("ours", u);
        if (!this.#seedOk(r)) {
          failed = failureReason(r);
          break;
        }
      }
    } else failed = "IMAP not listening";
    if (!failed) {
      this.seedNote = "both servers seeded over IMAP APPEND (seed_imap.py)";
      return;
    }
    checkAborted();
    this.opts.say(
      `seeding ours with MailStore.deliver (${failed}): the same messages, CRLF, in order`,
    );
    const dump = await new Deno.Command("python3", {
      args: [
        join(REPO, "bench/peers/dump_messages.py"),
        this.opts.bench,
        "--count",
        String(this.opts.messages),
        "--seed",
        "42",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!dump.success) {
      throw new Error(`dump_messages.py failed: ${new TextDecoder().decode(dump.stderr)}`);
    }
    const messages = parseDump(dump.stdout);
    await this.ours.stop();
    await this.ours.seedDirect(list, messages);
    await this.ours.start();
    this.seedNote = failed === "--seed-direct"
      ? "ours seeded with MailStore.deliver (--seed-direct), the peer over IMAP APPEND"
      : `ours seeded with MailStore.deliver (IMAP seeding failed: ${failed}), the peer over IMAP APPEND`;
  }
}
