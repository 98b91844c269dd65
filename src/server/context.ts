/**
 * What every service session gets: the live configuration, the directory, the mail
 * store, counters, TLS, the queue, and the registry of open sessions that a graceful
 * shutdown walks. RELOAD replaces `config` (and what is derived from it) in place, so
 * sessions always read `ctx.config` rather than keeping a copy.
 */
import type { SecureContext } from "node:tls";
import { CidrSet } from "../config/cidr.ts";
import type { Config } from "../config/schema.ts";
import type { Connection } from "../net/connection.ts";
import { ConnectionCounter } from "../net/listener.ts";
import type { AdminPassword } from "../directory/adminpass.ts";
import type { Directory } from "../directory/directory.ts";
import type { MailStore } from "../store/mailstore.ts";
import type { OutboundMessage, OutboundQueue } from "../queue/types.ts";
import { VERSION } from "../version.ts";

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

/** An open session, so that shutdown can say the protocol's goodbye. */
export interface SessionHandle {
  family: string;
  conn: Connection;
  /** Send the protocol's shutdown notice (421, -ERR, * BYE) and close. */
  goodbye(): void | Promise<void>;
}

/** The DNS cache as the admin port sees it (issue: outbound delivery). */
export interface DnsCacheView {
  entries(domain?: string): { name: string; type: string; value: string; expiresAt: number }[];
  flush(domain?: string): number;
}

export class ServerContext {
  config: Readonly<Config>;
  readonly configSource: string | null;
  readonly directory: Directory;
  readonly store: MailStore;
  readonly adminPassword: AdminPassword;
  readonly startedAt = Date.now();
  readonly version = VERSION;
  readonly stats: Stats = { received: 0, delivered: 0, queued: 0, bounced: 0 };
  readonly connections = new ConnectionCounter();
  readonly sessions = new Set<SessionHandle>();
  localNetworks: CidrSet;
  tlsContext: SecureContext | null;
  queue: OutboundQueue | null = null;
  /**
   * Hands a message to the mail pipeline as if received (local recipients to their
   * Maildirs, the rest to the queue). Set by the SMTP delivery module; used for DSN
   * bounces, autoreplies and forwards generated inside the server.
   */
  submit: ((message: OutboundMessage) => Promise<void>) | null = null;
  dnsCache: DnsCacheView | null = null;
  stopping = false;
  /** Set by the server: starts a graceful shutdown (SMTPD STOP, SIGTERM). */
  requestStop: () => void = () => {};
  /** Set by the server: re-reads the configuration file (RELOAD, SIGHUP). */
  reload: () => Promise<ReloadResult> = () => Promise.reject(new Error("not running"));

  constructor(init: {
    config: Readonly<Config>;
    configSource: string | null;
    directory: Directory;
    store: MailStore;
    adminPassword: AdminPassword;
    tlsContext: SecureContext | null;
  }) {
    this.config = init.config;
    this.configSource = init.configSource;
    this.directory = init.directory;
    this.store = init.store;
    this.adminPassword = init.adminPassword;
    this.tlsContext = init.tlsContext;
    this.localNetworks = new CidrSet(init.config.LocalIP);
  }

  /** Registers an open session; call the returned function when it ends. */
  register(handle: SessionHandle): () => void {
    this.sessions.add(handle);
    return () => this.sessions.delete(handle);
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
