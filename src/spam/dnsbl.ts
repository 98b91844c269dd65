/**
 * DNS block lists (RFC 5782) for SPEC §9's `DNSBL` key: is an SMTP client's address listed
 * in one of the configured zones? Asked through the server's resolver and its cache (so a
 * client that connects again within the TTL costs no query), every zone at once.
 *
 * - IPv4 `a.b.c.d` is looked up as `d.c.b.a.<zone>` (§2.1), IPv6 as its 32 nibbles in
 *   reverse order (§2.4), type A.
 * - An A record in 127.0.0.0/8 means listed (§2.3); NXDOMAIN or no A record: not listed.
 * - Answers that are not a listing are treated as not listed and reported: 127.255.255.x
 *   is how Spamhaus refuses a query (from a public resolver, over its limit), and an
 *   address outside 127/8 is a resolver that rewrites NXDOMAIN. A DNS failure (timeout,
 *   SERVFAIL) is never a refusal of its own either: the mail is accepted and it is logged.
 */
import { isIP } from "node:net";
import { parseIpv4, parseIpv6 } from "../dns/ip.ts";
import type { Answer, LookupType } from "../dns/resolver.ts";

/** The part of the resolver used here (tests give the real one a fake DNS server). */
export interface DnsblResolver {
  resolve(name: string, type: LookupType): Promise<Answer>;
}

export interface DnsblResult {
  /** The first zone, in configuration order, that lists the address; null when none. */
  listed: { zone: string; code: string } | null;
  /** Zones that could not say (DNS failure, a refused query), one line each, for the log. */
  problems: string[];
}

/** The name to look up for `ip` in `zone`; null for text that is not an IP address. */
export function dnsblQueryName(ip: string, zone: string): string | null {
  const z = zone.replace(/^\.+|\.+$/g, "");
  switch (isIP(ip)) {
    case 4:
      return `${[...parseIpv4(ip)].reverse().join(".")}.${z}`;
    case 6: {
      const nibbles: string[] = [];
      for (const b of parseIpv6(ip)) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
      return `${nibbles.reverse().join(".")}.${z}`;
    }
    default:
      return null;
  }
}

type ZoneAnswer =
  | { kind: "listed"; code: string }
  | { kind: "clear" }
  | { kind: "problem"; text: string };

/** What one zone's A records say (RFC 5782 §2.3). */
export function readListing(answer: Answer): ZoneAnswer {
  const addresses = answer.records.flatMap((r) => r.type === "A" ? [r.address] : []);
  if (addresses.length === 0) return { kind: "clear" };
  const listing = addresses.find((a) => a.startsWith("127.") && !a.startsWith("127.255.255."));
  if (listing) return { kind: "listed", code: listing };
  if (addresses.some((a) => a.startsWith("127.255.255."))) {
    return { kind: "problem", text: `query refused by the list (${addresses.join(", ")})` };
  }
  return { kind: "problem", text: `answer is not a listing (${addresses.join(", ")})` };
}

/** Asks every zone about `ip`, in parallel. */
export async function checkDnsbl(
  resolver: DnsblResolver,
  ip: string,
  zones: readonly string[],
): Promise<DnsblResult> {
  const answers = await Promise.all(zones.map(async (zone): Promise<ZoneAnswer> => {
    const name = dnsblQueryName(ip, zone);
    if (name === null) return { kind: "clear" };
    try {
      return readListing(await resolver.resolve(name, "A"));
    } catch (e) {
      return { kind: "problem", text: (e as Error).message };
    }
  }));
  let listed: DnsblResult["listed"] = null;
  const problems: string[] = [];
  answers.forEach((a, i) => {
    if (a.kind === "listed" && !listed) listed = { zone: zones[i], code: a.code };
    if (a.kind === "problem") problems.push(`${zones[i]}: ${a.text}`);
  });
  return { listed, problems };
}
