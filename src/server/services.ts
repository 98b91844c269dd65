/**
 * A listening service: which config key holds the port, which addresses it binds,
 * whether TLS is implicit, its refusal line at the connection limits (SPEC §4) and the
 * session handler. Each protocol's service.ts builds its rows from the dependencies it
 * is given; server.ts starts one listener per row whose port is not 0 (and, for
 * implicit TLS, only with a certificate).
 */
import type { Config } from "../config/schema.ts";
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "./context.ts";

export interface ServiceSpec {
  /** Name in logs: smtp, submission, smtps, pop3, pop3s, imap, imaps, admin, cluster. */
  name: string;
  /** Family for connection counts and limits: smtp, pop3, imap, admin. */
  family: "smtp" | "pop3" | "imap" | "admin" | "cluster";
  portKey: keyof Config & `Port${string}`;
  ipsKey: "ListenIP" | "AdminIP";
  implicitTls: boolean;
  /** No MaxConnections/MaxConnectionsPerIP (PortCluster: peers carry many users each). */
  unlimited?: boolean;
  /** Sent at the connection limits; a function of the context to name HostName. */
  refusal: string | ((ctx: ServerContext) => string);
  handle: (ctx: ServerContext, conn: Connection, service: ServiceSpec) => Promise<void>;
}
