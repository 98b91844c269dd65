/**
 * IP address text <-> bytes for A and AAAA records (RFC 1035 §3.4.1, RFC 3596 §2.2),
 * with the RFC 5952 canonical IPv6 text form.
 */

/** A DNS message or record that cannot be encoded or decoded. */
export class DnsFormatError extends Error {}

export function parseIpv4(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new DnsFormatError(`bad IPv4 address "${text}"`);
  }
  return new Uint8Array(parts.map(Number));
}

export function parseIpv6(text: string): Uint8Array {
  let head = text;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) fills the last four octets.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(head);
  let tailBytes: number[] = [];
  if (quad) {
    tailBytes = Array.from(parseIpv4(quad[1]));
    head = head.slice(0, -quad[1].length) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) throw new DnsFormatError(`bad IPv6 address "${text}"`);
  const left = halves[0] ? halves[0].split(":") : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - left.length - right.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) {
    throw new DnsFormatError(`bad IPv6 address "${text}"`);
  }
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  groups.forEach((g, i) => {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) throw new DnsFormatError(`bad IPv6 address "${text}"`);
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (quad) out.set(tailBytes, 12);
  return out;
}

/** RFC 5952 text form: lowercase, longest run of zero groups compressed. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
