/**
 * The server's DNS client and cache (src/dns/) in the shape mailauth asks for: a
 * `resolver(name, rrtype)` that answers like node's `dns.promises.resolve`, so SPF, DKIM
 * key, DMARC and ARC look-ups share the outbound queue's cache and TTLs (SPEC §8) and tests
 * can point them at a fake DNS server.
 *
 * Errors carry the codes mailauth reads: ENOTFOUND (NXDOMAIN) and ENODATA (no records of
 * that type) mean "no record" (SPF none, DKIM "no key", no DMARC policy); ESERVFAIL and
 * ETIMEOUT are temporary, which mailauth turns into temperror results (RFC 7208 §2.6.6,
 * RFC 6376 §6.1.2, RFC 7489 §6.6.3). A name the client cannot even encode is EBADNAME.
 */
import { type Answer, DnsTempError, type LookupType, type Resolver } from "../dns/resolver.ts";
import { DnsFormatError } from "../dns/message.ts";

/** What mailauth's `resolver` option takes (node:dns `resolve` answers). */
export type MailauthResolver = (name: string, rrtype: string) => Promise<unknown[]>;

const TYPES: readonly LookupType[] = ["TXT", "A", "AAAA", "MX", "PTR", "CNAME"];

function dnsError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Node-style answers: TXT as arrays of strings, MX as {exchange, priority}, others as text. */
function nodeShape(answer: Answer): unknown[] {
  return answer.records.flatMap((r): unknown[] => {
    switch (r.type) {
      case "TXT":
        return [r.texts];
      case "MX":
        return [{ exchange: r.exchange, priority: r.preference }];
      case "A":
      case "AAAA":
        return [r.address];
      case "CNAME":
        return [r.target];
      case "PTR":
        return [r.host];
      default:
        return [];
    }
  });
}

export function mailauthResolver(resolver: Resolver): MailauthResolver {
  return async (name: string, rrtype: string) => {
    const type = rrtype.toUpperCase() as LookupType;
    if (!TYPES.includes(type)) throw dnsError(`${rrtype} look-ups are not supported`, "ENOTIMP");
    let answer: Answer;
    try {
      answer = await resolver.resolve(name, type);
    } catch (e) {
      if (e instanceof DnsTempError) throw dnsError(e.message, e.code);
      if (e instanceof DnsFormatError) throw dnsError(`${name}: ${e.message}`, "EBADNAME");
      throw e;
    }
    if (answer.negative === "NXDOMAIN") throw dnsError(`${name} ${type}: NXDOMAIN`, "ENOTFOUND");
    const records = nodeShape(answer);
    if (records.length === 0) throw dnsError(`${name} ${type}: no data`, "ENODATA");
    return records;
  };
}
