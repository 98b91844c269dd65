/**
 * The unit a per-client limit counts: one IPv4 address, or one IPv6 /64. A single IPv6
 * host usually holds a whole /64 (RFC 4291 §2.5.4, SLAAC, RFC 8981 temporary addresses),
 * so counting IPv6 clients per address would let one of them open a connection or guess a
 * password from 2^64 "different" sources (SPEC §7).
 */
import { parseIpAddress } from "../config/cidr.ts";

/**
 * `ip` as the key of its source: IPv4 (and IPv4-mapped IPv6) as the dotted quad, IPv6 as
 * its /64 network (`2001:db8:1:2::/64`). Text that is not an address is its own key.
 */
export function sourceKey(ip: string): string {
  const parsed = parseIpAddress(ip);
  if (!parsed) return ip;
  if (parsed.family === 4) {
    const v = parsed.value;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const top = parsed.value >> 64n;
  const groups: string[] = [];
  for (let shift = 48n; shift >= 0n; shift -= 16n) {
    groups.push(((top >> shift) & 0xffffn).toString(16));
  }
  return `${groups.join(":")}::/64`;
}
