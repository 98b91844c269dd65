/**
 * Sockets as a Connection (connection.ts) gets them beyond an accepted one: an outbound
 * TCP connection (the SMTP client, links between nodes) and the TLS socket of an upgrade
 * in place (STARTTLS, RFC 3207 / RFC 2595 / RFC 3501, as server or client), with the
 * wait for its handshake.
 */
import net, { type Socket } from "node:net";
import tls, { type SecureContext, TLSSocket } from "node:tls";

/**
 * A TCP connection to `address`:`port` (an IP address: the caller resolved the name),
 * TCP_NODELAY set. Rejects with the socket's error, or after `timeoutMs` without one.
 */
export function connectSocket(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    socket.setNoDelay(true);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error("connection timed out")), timeoutMs);
    socket.once("error", fail);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

/**
 * The server side of TLS over an accepted socket; half-open as the socket is (listener.ts):
 * node:tls takes allowHalfOpen from the socket it wraps, whatever its options say.
 */
export function serverTls(plain: Socket, context: SecureContext): TLSSocket {
  return new TLSSocket(plain, { isServer: true, secureContext: context });
}

/**
 * The client side of TLS over a connected socket: `servername` as SNI unless it is an IP
 * address (RFC 6066 §3); `verify` false accepts any certificate (opportunistic TLS, RFC
 * 7435); `trust`: the certificate must chain to one of these CA certificates (PEM),
 * whatever name it carries (the links between cluster nodes, SPEC §12).
 */
export function clientTls(
  plain: Socket,
  servername: string,
  verify: boolean,
  trust?: { ca: string[] },
): TLSSocket {
  return tls.connect({
    socket: plain,
    servername: net.isIP(servername) ? undefined : servername,
    rejectUnauthorized: verify || trust !== undefined,
    ...(trust ? { ca: trust.ca, checkServerIdentity: () => undefined } : {}),
  });
}

/**
 * Resolves when `secure` emits `ready` (its handshake is done); rejects on its error, on
 * its close, or after `timeoutMs` (0: no limit), the socket destroyed then.
 */
export function handshake(
  secure: TLSSocket,
  ready: "secure" | "secureConnect",
  timeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        secure.destroy();
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs)
      : null;
    const settle = (error?: Error) => {
      if (timer !== null) clearTimeout(timer);
      secure.off("error", settle);
      if (error) reject(error);
      else resolve();
    };
    secure.once(ready, () => settle());
    secure.once("error", settle);
    secure.once("close", () => settle(new Error("connection closed during TLS handshake")));
  });
}

/** TLS protocol and cipher of a socket after its handshake (Received fields, logs). */
export function tlsInfoOf(socket: TLSSocket): { protocol: string; cipher: string } {
  const cipher = socket.getCipher?.();
  return { protocol: socket.getProtocol?.() ?? "TLS", cipher: cipher?.name ?? "unknown" };
}
