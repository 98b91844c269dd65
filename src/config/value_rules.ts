/**
 * The rule each configuration value must follow, key by key (schema.ts names the rule of
 * each key): host names, addresses and networks, host:port forms, the spam filter URLs,
 * the Postmaster address. Each returns the problem phrased to follow "Key = value: ", or
 * null. The rules of the cluster keys are in cluster.ts.
 */
import { isIP } from "node:net";
import { parseCidr } from "./cidr.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import { parseFilterSetting } from "../spam/setting.ts";

/** What is wrong with a value, phrased to follow "Key = value: "; null when it is fine. */
export type Problem = string | null;

export function checkHostName(value: string): Problem {
  const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
  if (value.length <= 253 && new RegExp(`^${label}(?:\\.${label})*$`, "i").test(value)) {
    return null;
  }
  return 'must be a host name of letters, digits, hyphens and dots, e.g. "mail.example.com"' +
    " (international names in their xn-- form)";
}

export function checkIpAddress(item: string): Problem {
  if (isIP(item) !== 0) return null;
  if (/^\[.*\]$/.test(item)) return `"${item}": write IPv6 addresses without brackets`;
  return `"${item}" is not an IP address; use e.g. "0.0.0.0", "127.0.0.1" or "::"`;
}

export function checkCidr(item: string): Problem {
  try {
    parseCidr(item);
    return null;
  } catch (error) {
    return `${(error as Error).message}; write a network as "10.0.0.0/8" or "2001:db8::/32"`;
  }
}

/**
 * Splits `host`, `host:port`, `[ipv6]` or `[ipv6]:port` (a bare IPv6 address is all host).
 * Returns null when the text has none of those shapes; the port is null when absent.
 */
export function splitHostPort(text: string): { host: string; port: number | null } | null {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    if (isIP(bracketed[1]) !== 6) return null;
    return { host: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : null };
  }
  if (isIP(text) === 6) return { host: text, port: null };
  const plain = /^([^:\s\[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!plain) return null;
  return { host: plain[1], port: plain[2] ? Number(plain[2]) : null };
}

export function checkDnsServer(item: string): Problem {
  const parts = splitHostPort(item);
  const problem = `"${item}" must be "ip" or "ip:port" (IPv6 with a port as "[::1]:53")`;
  if (!parts || isIP(parts.host) === 0) return problem;
  if (parts.port !== null && (parts.port < 1 || parts.port > 65535)) {
    return `"${item}": port must be 1..65535`;
  }
  return null;
}

export function checkRelayHost(value: string): Problem {
  if (value === "") return null;
  const parts = splitHostPort(value);
  const problem =
    'must be "host" or "host:port", e.g. "smtp.example.net:587" or "[2001:db8::1]:25"';
  if (!parts) return problem;
  if (isIP(parts.host) === 0 && checkHostName(parts.host) !== null) return problem;
  if (parts.port !== null && (parts.port < 1 || parts.port > 65535)) {
    return "port must be 1..65535";
  }
  return null;
}

export function checkDnsblZone(item: string): Problem {
  return checkHostName(item) === null
    ? null
    : `"${item}" must be a DNS zone name, e.g. "zen.spamhaus.org"`;
}

export function checkSpamFilter(value: string): Problem {
  if (value === "" || parseFilterSetting(value)) return null;
  return 'must be "" (no filter) or "rspamd:" and the URL of rspamd\'s HTTP worker, ' +
    'e.g. "rspamd:http://127.0.0.1:11333"';
}

export function checkControllerUrl(value: string): Problem {
  if (value === "" || parseFilterSetting(`rspamd:${value}`)) return null;
  return 'must be "" (the SpamFilter URL) or the URL of rspamd\'s controller, ' +
    'e.g. "http://127.0.0.1:11334"';
}

export function checkPostmaster(value: string): Problem {
  if (value === "") return null;
  try {
    const { local } = parseAddress(value);
    if (/^[\x21-\x7e]+$/.test(local)) return null;
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
  }
  return 'must be "" (the Maildir DirBase/postmaster/) or an ASCII address name@domain, ' +
    'e.g. "admin@example.com"';
}

/** The Postmaster address with its domain as the directory keeps domains (A-labels). */
export function normalizePostmaster(value: string): string {
  if (value === "") return value;
  const { local, domain } = parseAddress(value);
  return `${local}@${domain}`;
}

export const nonEmpty = (what: string) => (value: string): Problem =>
  value === "" ? `must not be empty; give ${what}` : null;
