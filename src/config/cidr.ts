/**
 * IP networks in CIDR notation: parsing, canonical text and fast membership tests.
 *
 * Used by LocalIP (relay without AUTH), PlainAuthWithoutTLS=local and the IPIN/IPOUT deny
 * lists. An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:127.0.0.1`, which is what
 * node:net reports on dual-stack sockets) are treated as the same address everywhere:
 * `::ffff:127.0.0.1` is in 127.0.0.0/8, and `::ffff:10.0.0.0/104` is the network 10.0.0.0/8.
 */

import { isIP } from "node:net";

/** One network. IPv4 values are unsigned 32-bit numbers, IPv6 values 128-bit bigints. */
export type Cidr =
  | { readonly family: 4; readonly network: number; readonly mask: number; readonly prefix: number }
  | {
    readonly family: 6;
    readonly network: bigint;
    readonly mask: bigint;
    readonly prefix: number;
  };

/** A parsed address; IPv4-mapped IPv6 addresses come back as family 4. */
export type IpAddress =
  | { readonly family: 4; readonly value: number }
  | { readonly family: 6; readonly value: bigint };

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96
const V6_ALL_ONES = (1n << 128n) - 1n;

/** Parses a dotted-quad IPv4 address to an unsigned 32-bit number, or null. */
function parseIPv4(text: string): number | null {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return null; // leading zero: "010" is ambiguous (octal?)
      octet = octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) return null;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return value * 256 + octet;
}

/** Parses an IPv6 address (with or without an embedded IPv4 tail) to a bigint, or null. */
function parseIPv6(text: string): bigint | null {
  // isIP does the strict syntax check; it also accepts zone ids ("fe80::1%eth0"), which
  // name an interface rather than an address, so they are refused here.
  if (text.includes("%") || isIP(text) !== 6) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const group of part.split(":")) {
      if (group.includes(".")) {
        const v4 = parseIPv4(group);
        if (v4 === null) return null; // isIP allows forms the strict IPv4 parser refuses
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else {
        groups.push(parseInt(group, 16));
      }
    }
    return groups;
  };
  const halves = text.split("::");
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (head === null || tail === null) return null;
  const zeros = new Array<number>(8 - head.length - tail.length).fill(0);
  let value = 0n;
  for (const group of [...head, ...zeros, ...tail]) value = (value << 16n) | BigInt(group);
  return value;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 comes back as IPv4. Null when invalid. */
export function parseIpAddress(text: string): IpAddress | null {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(text);
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: Number(v6 & 0xffffffffn) };
  return { family: 6, value: v6 };
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function v6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (V6_ALL_ONES << BigInt(128 - prefix)) & V6_ALL_ONES;
}

/**
 * Parses `address/prefix`, or a bare address as a single host (/32 or /128).
 * Host bits below the prefix are ignored: `192.168.1.7/24` is 192.168.1.0/24.
 * Throws an Error whose message says what is wrong.
 */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefixText = slash < 0 ? null : trimmed.slice(slash + 1);
  const v4 = parseIPv4(addressText);
  const v6 = v4 === null ? parseIPv6(addressText) : null;
  if (v4 === null && v6 === null) {
    throw new Error(`"${addressText}" is not an IPv4 or IPv6 address`);
  }
  const maxPrefix = v4 !== null ? 32 : 128;
  let prefix = maxPrefix;
  if (prefixText !== null) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      throw new Error(`prefix "/${prefixText}" must be a number 0..${maxPrefix}`);
    }
    prefix = Number(prefixText);
  }
  if (v4 !== null) return v4Cidr(v4, prefix);
  // An IPv6 network inside ::ffff:0:0/96 is an IPv4 network written the mapped way.
  if (prefix >= 96 && v6! >> 32n === 0xffffn) return v4Cidr(Number(v6! & 0xffffffffn), prefix - 96);
  const mask = v6Mask(prefix);
  return { family: 6, network: v6! & mask, mask, prefix };
}

function v4Cidr(address: number, prefix: number): Cidr {
  const mask = v4Mask(prefix);
  return { family: 4, network: (address & mask) >>> 0, mask, prefix };
}

/** True when `cidr` is a valid network in the syntax parseCidr accepts. */
export function isValidCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

function addressInCidr(cidr: Cidr, address: IpAddress): boolean {
  if (cidr.family === 4) {
    return address.family === 4 && ((address.value & cidr.mask) >>> 0) === cidr.network;
  }
  // An IPv4 address is also ::ffff:a.b.c.d, so a wide IPv6 network (::/0) can hold it.
  const value = address.family === 6 ? address.value : MAPPED_PREFIX | BigInt(address.value);
  return (value & cidr.mask) === cidr.network;
}

/** True when the address `ip` lies in `cidr`; false for anything that is not an address. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const address = parseIpAddress(ip);
  return address !== null && addressInCidr(cidr, address);
}

function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of zero groups as "::". */
function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) [bestStart, bestLength] = [i, end - i];
    i = end;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Canonical text of a network, e.g. "10.0.0.0/8" or "2001:db8::/32". */
export function formatCidr(cidr: Cidr): string {
  return cidr.family === 4
    ? `${formatIPv4(cidr.network)}/${cidr.prefix}`
    : `${formatIPv6(cidr.network)}/${cidr.prefix}`;
}

/** A list of networks, parsed once, for repeated membership tests. */
export class CidrSet {
  readonly cidrs: readonly Cidr[];
  readonly #v4: { network: number; mask: number }[] = [];
  readonly #v6: { network: bigint; mask: bigint }[] = [];

  /** Throws like parseCidr, with the offending entry named in the message. */
  constructor(list: readonly string[]) {
    const cidrs: Cidr[] = [];
    for (const text of list) {
      let cidr: Cidr;
      try {
        cidr = parseCidr(text);
      } catch (error) {
        throw new Error(`bad network "${text}": ${(error as Error).message}`);
      }
      cidrs.push(cidr);
      if (cidr.family === 4) this.#v4.push({ network: cidr.network, mask: cidr.mask });
      else this.#v6.push({ network: cidr.network, mask: cidr.mask });
    }
    this.cidrs = Object.freeze(cidrs);
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** True when `ip` (IPv4, IPv6 or IPv4-mapped IPv6) is in any of the networks. */
  contains(ip: string): boolean {
    const address = parseIpAddress(ip);
    if (address === null) return false;
    if (address.family === 4) {
      for (const { network, mask } of this.#v4) {
        if (((address.value & mask) >>> 0) === network) return true;
      }
      if (this.#v6.length === 0) return false;
    }
    const value = address.family === 6 ? address.value : MAPPED_PREFIX | BigInt(address.value);
    for (const { network, mask } of this.#v6) {
      if ((value & mask) === network) return true;
    }
    return false;
  }
}
