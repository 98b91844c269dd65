/**
 * Opening an outbound SMTP session up to the first MAIL: greeting, EHLO (HELO fallback,
 * RFC 5321 §3.2), opportunistic STARTTLS (RFC 3207, RFC 7435), and AUTH PLAIN/LOGIN to a
 * smart host (RFC 4954, RFC 4616) with the shared SASL encoders.
 */
import { encodeBase64 } from "../sasl/base64.ts";
import { encodePlain } from "../sasl/plain.ts";
import { type ClientTimeouts, SmtpClient, type Target } from "./client.ts";
import { authMechanisms, parseEhlo, type Reply } from "./reply.ts";

/** A failure before any transaction: move on to the next host. */
export class SetupError extends Error {
  constructor(message: string, readonly permanent = false) {
    super(message);
  }
}

export interface SessionOptions {
  /** EHLO name (HostName). */
  localName: string;
  timeouts: ClientTimeouts;
  /** Smart-host credentials (RelayUser/RelayPassword). */
  auth?: { user: string; password: string };
  /** Verify the server certificate (smart hosts with credentials); otherwise RFC 7435. */
  verifyTls: boolean;
  /** Skip STARTTLS (retry after a failed handshake). */
  noTls?: boolean;
}

/** Loopback peers (a local smart host) may get credentials without TLS. */
export function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.") || ip.startsWith("::ffff:127.");
}

async function ehlo(client: SmtpClient, name: string, t: ClientTimeouts): Promise<void> {
  const r = await client.command(`EHLO ${name}`, t.command, "EHLO");
  if (r.code === 250) {
    client.ext = parseEhlo(r);
    return;
  }
  // §3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
  if (r.permanent) {
    const h = await client.command(`HELO ${name}`, t.command, "HELO");
    if (h.code === 250) {
      client.ext = new Map();
      return;
    }
    throw new SetupError(`${client.name} refused HELO: ${h}`);
  }
  throw new SetupError(`${client.name} refused EHLO: ${r}`);
}

async function authenticate(client: SmtpClient, opts: SessionOptions): Promise<void> {
  const { user, password } = opts.auth!;
  const t = opts.timeouts;
  // RFC 4954 §4: never a cleartext password on an unencrypted wire, except to loopback.
  if (!client.secure && !isLoopback(client.address)) {
    throw new SetupError(`${client.name} offers no TLS; refusing to send RelayUser credentials`);
  }
  const mechs = authMechanisms(client.ext);
  let r: Reply;
  if (mechs.includes("PLAIN")) {
    r = await client.command(`AUTH PLAIN ${encodePlain(user, password)}`, t.command, "AUTH");
  } else if (mechs.includes("LOGIN")) {
    r = await client.command("AUTH LOGIN", t.command, "AUTH");
    if (r.code === 334) r = await client.command(encodeBase64(user), t.command, "AUTH");
    if (r.code === 334) r = await client.command(encodeBase64(password), t.command, "AUTH");
  } else {
    throw new SetupError(`${client.name} offers neither AUTH PLAIN nor AUTH LOGIN`);
  }
  // A refused login is a configuration problem: mail waits (temp) rather than bounces.
  if (r.code !== 235) throw new SetupError(`authentication at ${client.name} failed: ${r}`);
}

/** Connects and gets the session ready for MAIL; throws SetupError or SmtpConnectionError. */
export async function openSession(target: Target, opts: SessionOptions): Promise<SmtpClient> {
  const t = opts.timeouts;
  const client = await SmtpClient.connect(target, t.connect);
  try {
    const greeting = await client.readReply(t.greeting, "greeting");
    if (greeting.code !== 220) {
      throw new SetupError(`${client.name} refused to talk to me: ${greeting}`, greeting.permanent);
    }
    await ehlo(client, opts.localName, t);
    if (client.ext.has("STARTTLS") && !opts.noTls) {
      const r = await client.command("STARTTLS", t.command, "STARTTLS");
      if (r.code === 220) {
        await client.startTls(target.host, opts.verifyTls, t.tls);
        await ehlo(client, opts.localName, t);
      } else if (opts.verifyTls) {
        throw new SetupError(`${client.name} refused STARTTLS: ${r}`);
      }
    } else if (opts.verifyTls && !isLoopback(client.address)) {
      throw new SetupError(`${client.name} does not offer STARTTLS`);
    }
    if (opts.auth) await authenticate(client, opts);
    return client;
  } catch (e) {
    if (e instanceof SetupError) await client.quit(t.quit);
    else client.destroy();
    throw e;
  }
}
