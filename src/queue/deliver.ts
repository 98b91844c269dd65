/**
 * Delivers one message to the recipients of one destination (a domain, or everything
 * through RelayHost): deny entries (SPEC §5), MX selection (RFC 5321 §5.1, RFC 7505),
 * trying each host's addresses in turn, and one transaction over the first session that
 * gets that far. An open session is handed back so the runner can reuse it.
 */
import { isIP } from "node:net";
import type { Config } from "../config/schema.ts";
import { splitHostPort } from "../config/value_rules.ts";
import { DnsTempError, type Resolver } from "../dns/resolver.ts";
import type { DenyKind } from "../directory/records.ts";
import type { MessageContent } from "../store/content.ts";
import {
  type ClientTimeouts,
  type SmtpClient,
  SmtpConnectionError,
  type Target,
} from "../smtpclient/client.ts";
import { isLoopback, openSession, SetupError } from "../smtpclient/session.ts";
import {
  type Envelope,
  type EnvelopeDsn,
  localOutcome,
  type RecipientOutcome,
  transaction,
} from "../smtpclient/transaction.ts";

export interface DeliveryDeps {
  config: () => Readonly<Config>;
  isDenied: (kind: DenyKind, value: string) => boolean;
  resolver: Resolver;
  timeouts: ClientTimeouts;
}

export interface DeliveryJob {
  id: string;
  from: string;
  /** Lower-case domain shared by the recipients ("" when going through RelayHost). */
  domain: string;
  recipients: string[];
  /** The message: in memory, or its queue file read a chunk at a time as it goes out. */
  data: MessageContent;
  /** Whether it has a line over 998 octets (scanned once per attempt). */
  longLines?: boolean;
  eightBit: boolean;
  smtpUtf8: boolean;
  /** RFC 3461 parameters passed on to a next hop that announces DSN. */
  dsn?: EnvelopeDsn;
  /** The DKIM-Signature for the data as sent ("" for none); see smtpclient Envelope. */
  sign?: (data: MessageContent) => Promise<string>;
}

export interface JobResult {
  outcomes: RecipientOutcome[];
  /** A session still open after a completed transaction, for the next message. */
  session: SmtpClient | null;
}

/** At most this many addresses are tried per destination and attempt. */
const MAX_TARGETS = 10;

export function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? "" : address.slice(at + 1).toLowerCase();
}

/** Jobs with the same key may share a connection: one per domain, or the smart host. */
export function destinationKey(config: Pick<Config, "RelayHost">, domain: string): string {
  return config.RelayHost ? `relay ${config.RelayHost}` : `mx ${domain}`;
}

type Routes = { targets: Target[] } | { fail: "temp" | "perm"; line: string };

async function relayRoutes(deps: DeliveryDeps, relay: string): Promise<Routes> {
  const parts = splitHostPort(relay);
  if (!parts) return { fail: "temp", line: `451 4.3.5 RelayHost "${relay}" is not host[:port]` };
  try {
    const addrs = await deps.resolver.lookupAddresses(parts.host);
    if (addrs.length === 0) {
      return { fail: "temp", line: `451 4.4.4 RelayHost ${parts.host} has no address` };
    }
    const port = parts.port ?? 25;
    return { targets: addrs.map((address) => ({ host: parts.host, address, port })) };
  } catch (e) {
    if (!(e instanceof DnsTempError)) throw e;
    return { fail: "temp", line: `451 4.4.3 DNS lookup of RelayHost failed: ${e.message}` };
  }
}

/** RFC 5321 §4.1.3 address literals: user@[192.0.2.1], user@[IPv6:2001:db8::1]. */
function literalAddress(domain: string): string | null {
  const m = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain);
  return m && isIP(m[1]) ? m[1] : null;
}

async function mxRoutes(deps: DeliveryDeps, domain: string): Promise<Routes> {
  const config = deps.config();
  const port = config.OutboundPort;
  if (!domain) return { fail: "perm", line: "550 5.1.3 recipient address has no domain" };
  const literal = literalAddress(domain);
  if (literal) {
    if (deps.isDenied("IPOUT", literal)) {
      return { fail: "temp", line: `451 4.7.1 ${literal} is denied by IPOUT` };
    }
    return { targets: [{ host: literal, address: literal, port }] };
  }
  let hosts: { preference: number; host: string }[];
  try {
    const mx = await deps.resolver.lookupMx(domain);
    if (mx.kind === "nxdomain") {
      return { fail: "perm", line: `550 5.1.2 domain ${domain} does not exist (DNS NXDOMAIN)` };
    }
    if (mx.kind === "nullmx") {
      return {
        fail: "perm",
        line: `556 5.1.10 domain ${domain} does not accept mail (null MX, RFC 7505)`,
      };
    }
    hosts = mx.kind === "implicit" ? [{ preference: 0, host: domain }] : mx.hosts;
  } catch (e) {
    if (!(e instanceof DnsTempError)) throw e;
    return { fail: "temp", line: `451 4.4.3 DNS lookup of ${domain} MX failed: ${e.message}` };
  }
  // RFC 5321 §5.1: finding our own name, drop it and every host of equal or worse preference.
  const self = hosts.find((h) => h.host.toLowerCase() === config.HostName.toLowerCase());
  if (self) {
    hosts = hosts.filter((h) => h.preference < self.preference);
    if (hosts.length === 0) {
      return { fail: "perm", line: `554 5.4.6 mail for ${domain} loops back to myself` };
    }
  }
  const targets: Target[] = [];
  let denied = 0;
  let dnsError = "";
  for (const { host } of hosts) {
    if (targets.length >= MAX_TARGETS) break;
    let addrs: string[];
    try {
      addrs = await deps.resolver.lookupAddresses(host);
    } catch (e) {
      if (!(e instanceof DnsTempError)) throw e;
      dnsError = e.message;
      continue;
    }
    for (const address of addrs) {
      // SPEC §5 IPOUT: MX hosts at denied addresses are skipped.
      if (deps.isDenied("IPOUT", address)) denied++;
      else if (targets.length < MAX_TARGETS) targets.push({ host, address, port });
    }
  }
  if (targets.length > 0) return { targets };
  if (denied > 0) {
    return {
      fail: "temp",
      line: `451 4.7.1 every MX host of ${domain} is at an address denied by IPOUT`,
    };
  }
  if (dnsError) return { fail: "temp", line: `451 4.4.3 DNS lookup failed: ${dnsError}` };
  if (hosts.length === 1 && hosts[0].host === domain) {
    return { fail: "perm", line: `550 5.1.2 domain ${domain} has no MX and no address record` };
  }
  return { fail: "temp", line: `451 4.4.4 no MX host of ${domain} has an address` };
}

/** Delivers `job`, over `cached` first when the runner has a session to its destination. */
export async function deliverJob(
  deps: DeliveryDeps,
  job: DeliveryJob,
  cached: SmtpClient | null,
): Promise<JobResult> {
  const config = deps.config();
  const outcomes: RecipientOutcome[] = [];
  const recipients: string[] = [];
  for (const rcpt of job.recipients) {
    // SPEC §5: DOMAINOUT and MAILBOXOUT hold for queued mail too (the entry may be newer).
    if (deps.isDenied("MAILBOXOUT", rcpt) || deps.isDenied("DOMAINOUT", domainOf(rcpt))) {
      outcomes.push(
        localOutcome(rcpt, "perm", `550 5.7.1 delivery to <${rcpt}> is denied by policy`),
      );
    } else {
      recipients.push(rcpt);
    }
  }
  if (recipients.length === 0) return { outcomes, session: cached };
  const env: Envelope = { ...job, recipients };

  if (cached?.usable) {
    try {
      const r = await transaction(cached, env, deps.timeouts);
      return { outcomes: [...outcomes, ...r.outcomes], session: cached.usable ? cached : null };
    } catch (e) {
      if (!(e instanceof SmtpConnectionError)) throw e;
      cached.destroy(); // the server closed an idle connection: start afresh
    }
  } else {
    cached?.destroy();
  }

  const routes = config.RelayHost
    ? await relayRoutes(deps, config.RelayHost)
    : await mxRoutes(deps, job.domain);
  if ("fail" in routes) {
    return {
      outcomes: [...outcomes, ...recipients.map((r) => localOutcome(r, routes.fail, routes.line))],
      session: null,
    };
  }
  const auth = config.RelayHost && config.RelayUser
    ? { user: config.RelayUser, password: config.RelayPassword }
    : undefined;
  let lastError = "";
  let lastPermanent = false;
  let lastHost = "";
  for (const target of routes.targets) {
    let session: SmtpClient | null = null;
    const verifyTls = auth !== undefined && !isLoopback(target.address);
    for (const noTls of [false, true]) {
      try {
        session = await openSession(target, {
          localName: config.HostName,
          timeouts: deps.timeouts,
          auth,
          verifyTls,
          noTls,
        });
        break;
      } catch (e) {
        if (!(e instanceof SetupError) && !(e instanceof SmtpConnectionError)) throw e;
        lastError = e.message;
        lastPermanent = e instanceof SetupError && e.permanent;
        lastHost = target.host;
        // A failed opportunistic handshake: once more in plaintext (RFC 7435 §6). Where
        // TLS is required (credentials to a remote smart host) there is no fallback.
        if (!e.message.includes("TLS handshake") || verifyTls) break;
      }
    }
    if (!session) continue;
    try {
      const r = await transaction(session, env, deps.timeouts);
      if (r.mailRefused?.transient) {
        lastError = `${session.name} refused the sender: ${r.mailRefused}`;
        lastPermanent = false;
        lastHost = target.host;
        await session.quit(deps.timeouts.quit);
        continue;
      }
      return { outcomes: [...outcomes, ...r.outcomes], session: session.usable ? session : null };
    } catch (e) {
      if (!(e instanceof SmtpConnectionError)) throw e;
      session.destroy();
      lastError = e.message;
      lastPermanent = false;
      lastHost = target.host;
    }
  }
  const line = /^\d{3} \d\.\d/.test(lastError)
    ? lastError
    : `${lastPermanent ? "554 5.4.0" : "451 4.4.1"} ${lastError || "no host could be reached"}`;
  return {
    outcomes: [
      ...outcomes,
      ...recipients.map((r) => localOutcome(r, lastPermanent ? "perm" : "temp", line, lastHost)),
    ],
    session: null,
  };
}
