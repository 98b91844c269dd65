/**
 * What every service session gets: the live configuration, the directory, the mail
 * store and its files of messages in transfer, counters, TLS, the outbound queue and its DNS cache, and the registry of open
 * sessions that a graceful shutdown walks. Everything is built before the context
 * (src/server/server.ts) and given to its constructor; nothing in it is set later.
 * RELOAD replaces `config` (and what is derived from it) in place, so sessions always
 * read `ctx.config` rather than keeping a copy.
 */
import type { SecureContext } from "node:tls";
import { CidrSet } from "../config/cidr.ts";
import type { Config } from "../config/schema.ts";
import type { Pop3Loop } from "../pop3/loop.ts";
import type { Connection } from "../net/connection.ts";
import { ConnectionCounter } from "../net/listener.ts";
import { HandshakeGate } from "../net/tls_gate.ts";
import type { AdminPassword } from "../directory/adminpass.ts";
import { AuthGuard } from "../auth/guard.ts";
import type { Directory } from "../directory/directory.ts";
import type { MailStore } from "../store/mailstore.ts";
import type { IncomingFiles } from "../store/incoming.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import type { OutboundQueue } from "../queue/types.ts";
import type { MailAuth } from "../mailauth/service.ts";
import type { SpamFilter } from "../spam/service.ts";
import type { UserRecord } from "../directory/records.ts";
import { homeOf } from "../cluster/home.ts";
import { Peers } from "../cluster/peers.ts";
import { UserMoves } from "../cluster/move.ts";
import { VERSION } from "../version.ts";

/** Counters shown by STATUS; the pipeline and the queue add to them. */
export interface Stats {
  /** Messages accepted by SMTP (250 to DATA/BDAT). */
  received: number;
  /** Local deliveries into Maildirs and successful outbound deliveries. */
  delivered: number;
  /** Messages handed to the outbound queue. */
  queued: number;
  /** DSN bounces generated. */
  bounced: number;
}

export function newStats(): Stats {
  return { received: 0, delivered: 0, queued: 0, bounced: 0 };
}

/** An open session, so that shutdown can say the protocol's goodbye. */
export interface SessionHandle {
  family: string;
  conn: Connection;
  /** Send the protocol's shutdown notice (421, -ERR, * BYE) and close. */
  goodbye(): void | Promise<void>;
  /** The logged-in user's address (IMAP, POP3), null before login: USER MOVE ends them. */
  user?: () => string | null;
}

/** The DNS cache as the admin port sees it (DNS CACHE SHOW / FLUSH). */
export interface DnsCacheView {
  entries(domain?: string): { name: string; type: string; value: string; expiresAt: number }[];
  flush(domain?: string): number;
}

export class ServerContext {
  config: Readonly<Config>;
  readonly configSource: string | null;
  readonly directory: Directory;
  readonly store: MailStore;
  /** `<DirBase>/incoming/`: files of messages in transfer (SMTP DATA/BDAT, IMAP APPEND). */
  readonly incoming: IncomingFiles;
  readonly adminPassword: AdminPassword;
  /** Password checks of SMTP, POP3 and IMAP, throttled together (SPEC §7). */
  readonly authGuard: AuthGuard;
  readonly startedAt = Date.now();
  readonly version = VERSION;
  readonly stats: Stats;
  /** The series of /metrics (SPEC §10); recording sites call it directly. */
  readonly metrics: ServerMetrics;
  readonly connections = new ConnectionCounter();
  /** Implicit-TLS handshakes, started a few at a time per source (src/net/tls_gate.ts). */
  readonly handshakes = new HandshakeGate();
  readonly sessions = new Set<SessionHandle>();
  localNetworks: CidrSet;
  tlsContext: SecureContext | null;
  /** The outbound queue (remote recipients); running before any listener opens. */
  readonly queue: OutboundQueue;
  /** The cache of the queue's DNS resolver. */
  readonly dnsCache: DnsCacheView;
  /** SPEC §8 mail authentication: DKIM keys and signing, inbound checks, SRS, ARC. */
  readonly auth: MailAuth;
  /** SPEC §9: the rspamd client, DNSBL look-ups and the SpamLearn queue. */
  readonly spam: SpamFilter;
  /** SPEC §12: links to the other nodes (delivery and proxied logins for their users). */
  readonly peers: Peers;
  /** SPEC §12 USER MOVE runs of this node (one per user at a time). */
  readonly moves = new UserMoves();
  stopping = false;
  /** POP3's second event loop (ThreadsPOP3 = 2), set by startServer; null: one loop. */
  pop3Loop: Pop3Loop | null = null;
  /** Starts a graceful shutdown (SMTPD STOP, SIGTERM). */
  readonly requestStop: () => void;
  /** Re-reads the configuration file (RELOAD, SIGHUP). */
  readonly reload: () => Promise<ReloadResult>;

  constructor(init: {
    config: Readonly<Config>;
    configSource: string | null;
    directory: Directory;
    store: MailStore;
    incoming: IncomingFiles;
    adminPassword: AdminPassword;
    /** Tests may pass one with a fake clock; the default guards `directory`. */
    authGuard?: AuthGuard;
    tlsContext: SecureContext | null;
    metrics: ServerMetrics;
    stats: Stats;
    queue: OutboundQueue;
    dnsCache: DnsCacheView;
    auth: MailAuth;
    spam: SpamFilter;
    /** Without one (tests): links made from this context's configuration. */
    peers?: Peers;
    /** Without one (tests), SMTPD STOP does nothing and RELOAD fails. */
    requestStop?: () => void;
    reload?: () => Promise<ReloadResult>;
  }) {
    this.config = init.config;
    this.configSource = init.configSource;
    this.directory = init.directory;
    this.store = init.store;
    this.incoming = init.incoming;
    this.adminPassword = init.adminPassword;
    this.authGuard = init.authGuard ?? new AuthGuard(init.directory);
    this.tlsContext = init.tlsContext;
    this.metrics = init.metrics;
    this.localNetworks = new CidrSet(init.config.LocalIP);
    this.stats = init.stats;
    this.queue = init.queue;
    this.dnsCache = init.dnsCache;
    this.auth = init.auth;
    this.spam = init.spam;
    this.peers = init.peers ?? new Peers(() => this.config);
    this.requestStop = init.requestStop ?? (() => {});
    this.reload = init.reload ??
      (() => Promise.reject(new Error("this server has no configuration to reload")));
  }

  /** Registers an open session; call the returned function when it ends. */
  register(handle: SessionHandle): () => void {
    this.sessions.add(handle);
    return () => this.sessions.delete(handle);
  }

  /**
   * SPEC §12: "local" when the user's Maildir is on this node (always on a single machine),
   * else the name of the node that holds it (a key of `config.Nodes`).
   */
  homeOf(user: Pick<UserRecord, "node">): "local" | string {
    return homeOf(user, this.config);
  }

  isLocalIp(ip: string): boolean {
    return this.localNetworks.contains(ip);
  }

  /** SPEC §3/§5 PlainAuthWithoutTLS: may this connection send a cleartext password? */
  plainAuthAllowed(conn: Connection): boolean {
    if (conn.secure) return true;
    switch (this.config.PlainAuthWithoutTLS) {
      case "always":
        return true;
      case "local":
        return this.isLocalIp(conn.remoteAddress);
      default:
        return false;
    }
  }
}

export interface ReloadResult {
  /** Keys whose new value took effect. */
  applied: string[];
  /** Keys that changed but need a restart (listeners, DirBase, HashDirs). */
  needRestart: string[];
}
