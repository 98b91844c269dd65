/**
 * This node's side of the links to other nodes (SPEC §12): a connection to a node's
 * PortCluster (TLS that must chain to the system CAs or to our own TLSCert, then the
 * ClusterSecret handshake of handshake.ts), whether a node can be reached (SMTP answers
 * 451 4.3.0 at RCPT for users of a node that cannot), and idle LMTP links kept for reuse.
 */
import { rootCertificates } from "node:tls";
import type { Config } from "../config/schema.ts";
import { Connection } from "../net/connection.ts";
import { SmtpClient } from "../smtpclient/client.ts";
import {
  type ClusterRequest,
  newNonce,
  parseGreeting,
  proof,
  proofMatches,
  requestLine,
} from "./handshake.ts";

/** A node could not be reached, or did not prove the secret. */
export class PeerError extends Error {}

/** How long a node found unreachable is not tried again (SMTP answers 451 meanwhile). */
const DOWN_MS = 1000;
const CONNECT_MS = 3000;
const MAX_IDLE_LINKS = 8;
const MAX_LINE = 4096;

/** `host:port` or `[v6]:port` of a Nodes entry. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new PeerError(`Nodes entry ${JSON.stringify(text)} is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}

/** Reads one line within `ms`; null at end of input. */
export async function lineWithin(conn: Connection, ms: number, what: string): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new PeerError(`no ${what} within ${ms} ms`));
      conn.destroy();
    }, ms);
  });
  try {
    const read = await Promise.race([conn.readLine(MAX_LINE), expired]);
    if (read === null) throw new PeerError(`connection closed before the ${what}`);
    return new TextDecoder().decode(read.line);
  } finally {
    clearTimeout(timer);
  }
}

export class Peers {
  readonly #config: () => Readonly<Config>;
  readonly #down = new Map<string, { until: number; reason: string }>();
  readonly #idle = new Map<string, SmtpClient[]>();

  constructor(config: () => Readonly<Config>) {
    this.#config = config;
  }

  /**
   * The CAs a peer's certificate must chain to: the system's and our own TLSCert (read at
   * each new link, so a certificate replaced and RELOADed is trusted from then on).
   */
  #trust(config: Readonly<Config>): { ca: string[] } {
    let own: string | null = null;
    try {
      own = config.TLSCert ? Deno.readTextFileSync(config.TLSCert) : null;
    } catch { /* unreadable: the system CAs only (the handshake names the failure) */ }
    return { ca: own ? [...rootCertificates, own] : [...rootCertificates] };
  }

  get self(): string {
    return this.#config().NodeName;
  }

  /**
   * A proven connection to `node` with `request` sent; the caller reads the reply.
   * Throws PeerError (and remembers the node as down for a second) when it fails.
   */
  async open(node: string, request: ClusterRequest, ms = CONNECT_MS): Promise<Connection> {
    const config = this.#config();
    const entry = config.Nodes[node];
    if (entry === undefined) throw new PeerError(`node ${node} is not in Nodes`);
    let conn: Connection | null = null;
    try {
      const { host, port } = splitHostPort(entry);
      conn = await Connection.connect(host, port, ms);
      await conn.startTlsClient(host, true, ms, this.#trust(config));
      const greeting = await lineWithin(conn, ms, "greeting");
      const g = greeting.startsWith("220 ") ? parseGreeting(greeting.slice(4)) : null;
      if (!g) throw new PeerError(`unexpected greeting ${JSON.stringify(greeting.slice(0, 80))}`);
      const nonce = newNonce();
      const secret = config.ClusterSecret;
      conn.send(
        `NODE ${config.NodeName} ${nonce} ${
          proof(secret, "client", g.nonce, nonce, config.NodeName)
        }\r\n`,
      );
      const answer = await lineWithin(conn, ms, "handshake reply");
      if (!answer.startsWith("250 ")) throw new PeerError(`refused us: ${answer.slice(0, 120)}`);
      if (!proofMatches(proof(secret, "server", g.nonce, nonce, node), answer.slice(4).trim())) {
        throw new PeerError("did not prove ClusterSecret (a different secret, or not that node)");
      }
      conn.send(requestLine(request) + "\r\n");
      this.#down.delete(node);
      return conn;
    } catch (e) {
      conn?.destroy();
      const reason = `node ${node} (${entry}): ${(e as Error).message}`;
      this.#down.set(node, { until: Date.now() + DOWN_MS, reason });
      throw new PeerError(reason);
    }
  }

  /** Why `node` was found unreachable within the last second, or null. */
  /**
   * A request answered with one line (USER MOVE, USER DEL, an autoreply claim): that line,
   * the link closed after it.
   */
  async ask(node: string, request: ClusterRequest, ms: number, what: string): Promise<string> {
    const link = await this.open(node, request);
    try {
      return await lineWithin(link, ms, what);
    } finally {
      link.close();
    }
  }

  downReason(node: string): string | null {
    const d = this.#down.get(node);
    return d && d.until > Date.now() ? d.reason : null;
  }

  /**
   * Can `node` be reached now? An open LMTP link says yes (it closes when the node goes);
   * else a new one is made, and kept for the delivery that follows. A node found down is
   * not tried again for a second.
   */
  async reachable(node: string): Promise<boolean> {
    if (this.downReason(node)) return false;
    try {
      this.release(node, await this.lmtp(node));
      return true;
    } catch {
      return false;
    }
  }

  /** An LMTP client to `node`: an idle one, else a new link (after its 220 and LHLO). */
  async lmtp(node: string): Promise<SmtpClient> {
    const idle = this.#idle.get(node) ?? [];
    while (idle.length > 0) {
      const client = idle.pop()!;
      if (client.usable) return client;
      client.destroy();
    }
    const conn = await this.open(node, { kind: "lmtp" });
    const entry = splitHostPort(this.#config().Nodes[node]);
    const client = SmtpClient.over(conn, { host: node, address: entry.host, port: entry.port });
    try {
      const ready = await client.readReply(CONNECT_MS, "LMTP greeting");
      if (ready.code !== 220) throw new PeerError(`LMTP refused: ${ready.toString().trim()}`);
      const lhlo = await client.command(`LHLO ${this.self}`, CONNECT_MS, "LHLO");
      if (lhlo.code !== 250) throw new PeerError(`LHLO refused: ${lhlo.toString().trim()}`);
    } catch (e) {
      client.destroy();
      throw e instanceof PeerError ? e : new PeerError(`node ${node}: ${(e as Error).message}`);
    }
    return client;
  }

  /** Gives an LMTP client back for reuse (or closes it when enough are idle). */
  release(node: string, client: SmtpClient): void {
    const idle = this.#idle.get(node) ?? [];
    if (!client.usable || idle.length >= MAX_IDLE_LINKS) {
      void client.quit(1000);
      return;
    }
    idle.push(client);
    this.#idle.set(node, idle);
  }

  /** Closes every idle link (shutdown). */
  async close(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(all.map((c) => c.quit(1000)));
  }
}
