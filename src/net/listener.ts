/**
 * TCP listeners on node:net (so STARTTLS can upgrade the accepted socket in place),
 * with the per-service connection limits of SPEC §4: over MaxConnections or
 * MaxConnectionsPerIP the service's own refusal is sent and the socket closed. "Per IP"
 * counts IPv6 clients per /64 (SPEC §7, source.ts). Implicit-TLS handshakes start through
 * the HandshakeGate (tls_gate.ts): a few at a time per source, in paced turns.
 */
import { createServer, type Server, type Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import { Connection, normalizeIp } from "./connection.ts";
import { sourceKey } from "./source.ts";
import { HandshakeGate } from "./tls_gate.ts";

export interface ListenerOptions {
  /** Service name for /healthz (smtp, submission, pop3s, ...); the family when absent. */
  name?: string;
  /** Service family for limits and STATUS counts (smtp, pop3, imap, admin). */
  family: string;
  ips: readonly string[];
  port: number;
  /** Implicit TLS (465/995/993): the current context, asked per connection. */
  implicitTls?: () => SecureContext | null;
  limits: () => { maxConnections: number; maxPerIp: number };
  /**
   * Refusal text for this protocol (SMTP 421 4.7.0, POP3 -ERR [SYS/TEMP], ...); a
   * function when it names live configuration (the SMTP host name).
   */
  refusal: string | (() => string);
  onConnection: (conn: Connection) => void | Promise<void>;
  onError: (message: string) => void;
}

/** Open connections per family and per source (address, IPv6 /64), shared by all listeners. */
export class ConnectionCounter {
  readonly byFamily = new Map<string, number>();
  readonly #byIp = new Map<string, number>();

  count(family: string): number {
    return this.byFamily.get(family) ?? 0;
  }

  tryAdd(family: string, ip: string, max: number, maxPerIp: number): boolean {
    return this.#add(family, `${family} ${sourceKey(ip)}`, max, maxPerIp);
  }

  remove(family: string, ip: string): void {
    this.#remove(family, `${family} ${sourceKey(ip)}`);
  }

  /**
   * tryAdd() for a connection: its remove() when counted (the source's key worked out
   * once for both), null when a limit refuses it.
   */
  admit(family: string, ip: string, max: number, maxPerIp: number): (() => void) | null {
    const key = `${family} ${sourceKey(ip)}`;
    return this.#add(family, key, max, maxPerIp) ? () => this.#remove(family, key) : null;
  }

  #add(family: string, key: string, max: number, maxPerIp: number): boolean {
    const perIp = this.#byIp.get(key) ?? 0;
    const total = this.count(family);
    if (total >= max || perIp >= maxPerIp) return false;
    this.byFamily.set(family, total + 1);
    this.#byIp.set(key, perIp + 1);
    return true;
  }

  #remove(family: string, key: string): void {
    this.byFamily.set(family, Math.max(0, this.count(family) - 1));
    const perIp = (this.#byIp.get(key) ?? 1) - 1;
    if (perIp <= 0) this.#byIp.delete(key);
    else this.#byIp.set(key, perIp);
  }
}

function ignoreError(): void {}

export class Listener {
  readonly servers: Server[] = [];
  readonly options: ListenerOptions;
  readonly #counter: ConnectionCounter;
  readonly #gate: HandshakeGate;

  /** `counter` and `gate` are shared by every listener of the server. */
  constructor(options: ListenerOptions, counter: ConnectionCounter, gate = new HandshakeGate()) {
    this.options = options;
    this.#counter = counter;
    this.#gate = gate;
  }

  /** Binds every address; rejects with a clear message when one cannot be bound. */
  async start(): Promise<void> {
    for (const ip of this.options.ips) {
      // Replies are small and often pipelined: Nagle would stall each by up to 40 ms. The
      // option sets TCP_NODELAY as the socket is accepted (one setsockopt, strace).
      // allowHalfOpen: a client that writes its commands and then shuts down its sending
      // side (`nc -N`, scripts) still gets every reply; node:net would otherwise end our
      // side at its FIN and drop the replies written after. Each session ends its
      // connection when its input ends, and #admit closes it when the session returns.
      // A TLS socket made over an accepted one (implicit TLS here, STARTTLS in
      // socket_setup.ts) takes allowHalfOpen from it (Deno 2.9, as Node's TLSSocket): a
      // client's close_notify and FIN end only its side there too
      // (tests/half_close_tls_test.ts).
      const server = createServer(
        { noDelay: true, allowHalfOpen: true },
        (socket) => this.#accept(socket),
      );
      await new Promise<void>((resolve, reject) => {
        server.once(
          "error",
          (e: Error) =>
            reject(new Error(`cannot listen on ${ip}:${this.options.port}: ${e.message}`)),
        );
        server.listen({ host: ip, port: this.options.port }, () => resolve());
      });
      server.on("error", (e: Error) => this.options.onError(e.message));
      this.servers.push(server);
    }
  }

  /** Every address is bound and accepting (false once closed or broken). */
  get listening(): boolean {
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  /** The actual port (for port 0 in tests). */
  get port(): number {
    const addr = this.servers[0]?.address();
    return addr && typeof addr === "object" ? addr.port : this.options.port;
  }

  #accept(socket: Socket): void {
    socket.on("error", ignoreError); // errors surface through Connection; never crash
    const ip = normalizeIp(socket.remoteAddress ?? "");
    if (!this.options.implicitTls) {
      this.#admit(socket, ip, false);
      return;
    }
    // Handshakes start a few at a time per source, in paced turns (tls_gate.ts).
    this.#gate.admit(
      sourceKey(ip),
      () => this.#startTls(socket, ip),
      () => socket.destroy(),
      () => !socket.destroyed,
    );
  }

  /** Wraps an implicit-TLS socket; resolves when its handshake is over (or never began). */
  #startTls(socket: Socket, ip: string): Promise<void> {
    const ctx = this.options.implicitTls?.() ?? null;
    if (!ctx) {
      socket.destroy();
      return Promise.resolve();
    }
    const tls = new TLSSocket(socket, { isServer: true, secureContext: ctx });
    tls.on("error", () => {});
    return new Promise((resolve) => {
      tls.once("secure", () => resolve());
      tls.once("close", () => resolve());
      this.#admit(tls, ip, true);
    });
  }

  /** Counts the connection (or refuses it: SPEC §4 limits) and starts its session. */
  #admit(raw: Socket | TLSSocket, ip: string, secure: boolean): void {
    const { maxConnections, maxPerIp } = this.options.limits();
    const family = this.options.family;
    const release = this.#counter.admit(family, ip, maxConnections, maxPerIp);
    if (!release) {
      const refusal = this.options.refusal;
      raw.end(typeof refusal === "string" ? refusal : refusal());
      setTimeout(() => raw.destroy(), 2000);
      return;
    }
    const start = () => {
      const conn = new Connection(raw, secure);
      conn.onClose(release);
      Promise.resolve(this.options.onConnection(conn)).then(
        // A session that returned has ended its connection; if not, it ends here (with
        // allowHalfOpen nothing else would once the client's FIN came).
        () => conn.close(),
        (e) => {
          this.options.onError(`${family} session ${conn.id} failed: ${e?.stack ?? e}`);
          conn.destroy();
        },
      );
    };
    if (secure) {
      const tls = raw as TLSSocket;
      let started = false;
      // A client that never finishes the handshake must not hold a slot forever.
      const timer = setTimeout(() => tls.destroy(), 30_000);
      tls.once("secure", () => {
        clearTimeout(timer);
        started = true;
        start();
      });
      tls.once("close", () => {
        clearTimeout(timer);
        if (!started) release();
      });
    } else {
      start();
    }
  }

  /**
   * Stops listening. server.close()'s callback only fires once every open connection
   * has ended, and sessions end through their goodbye() after this, so it is not
   * awaited: the listening sockets are closed when close() returns.
   */
  close(): Promise<void> {
    for (const s of this.servers) {
      s.close(() => {});
    }
    return Promise.resolve();
  }
}
