/**
 * The server's DNS cache (SPEC §1, §5): RRsets and negative answers, each kept for its
 * TTL capped at one day, for the life of the process. It is what the admin port's
 * `DNS CACHE SHOW` / `DNS CACHE FLUSH` see (DnsCacheView).
 */
import type { DnsCacheView } from "../server/context.ts";
import type { RData } from "./message.ts";

/** SPEC §5: TTLs are honoured but capped at one day. */
export const MAX_TTL_SECONDS = 86400;
/** A bound on memory; the oldest entries go first when it is reached. */
const MAX_ENTRIES = 100_000;

export type Negative = "" | "NXDOMAIN" | "NODATA";

export interface CachedSet {
  /** Owner name, lower-case, without the trailing dot. */
  name: string;
  /** "MX", "A", "AAAA", "CNAME", "TXT", "PTR". */
  type: string;
  records: RData[];
  /** RFC 2308: a cached "no such name" or "no data of this type". */
  negative: Negative;
  expiresAt: number;
}

function keyOf(name: string, type: string): string {
  return `${name.toLowerCase()}\u0000${type}`;
}

export function formatRData(d: RData): string {
  switch (d.type) {
    case "A":
    case "AAAA":
      return d.address;
    case "CNAME":
      return d.target;
    case "MX":
      return `${d.preference} ${d.exchange || "."}`;
    case "NS":
    case "PTR":
      return d.host;
    case "TXT":
      return d.texts.join("");
    case "SOA":
      return `${d.mname} ${d.rname} ${d.serial}`;
    case "OTHER":
      return `\\# ${d.data.length}`;
  }
}

export class DnsCache implements DnsCacheView {
  readonly #sets = new Map<string, CachedSet>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get size(): number {
    return this.#sets.size;
  }

  /** The live entry, or undefined (an expired one is dropped on the way). */
  get(name: string, type: string): CachedSet | undefined {
    const key = keyOf(name, type);
    const set = this.#sets.get(key);
    if (!set) return undefined;
    if (set.expiresAt <= this.#now()) {
      this.#sets.delete(key);
      return undefined;
    }
    return set;
  }

  /** Stores an answer for `ttl` seconds (capped at a day); a TTL of 0 is not cached. */
  put(name: string, type: string, records: RData[], negative: Negative, ttl: number): void {
    const seconds = Math.min(Math.max(0, Math.floor(ttl)), MAX_TTL_SECONDS);
    if (seconds === 0) return;
    const key = keyOf(name, type);
    this.#sets.delete(key);
    if (this.#sets.size >= MAX_ENTRIES) {
      const oldest = this.#sets.keys().next().value;
      if (oldest !== undefined) this.#sets.delete(oldest);
    }
    this.#sets.set(key, {
      name: name.toLowerCase(),
      type,
      records,
      negative,
      expiresAt: this.#now() + seconds * 1000,
    });
  }

  /**
   * SPEC §4 DNS CACHE ... DOMAIN=: the domain and its sub-domains, and the MX hosts its
   * cached MX set names with the CNAMEs they point through (what a delivery there uses).
   */
  #matching(domain?: string): [string, CachedSet][] {
    const now = this.#now();
    const d = domain?.toLowerCase().replace(/\.$/, "");
    const hosts = new Set<string>();
    if (d) {
      for (const r of this.get(d, "MX")?.records ?? []) {
        if (r.type === "MX" && r.exchange) hosts.add(r.exchange.toLowerCase());
      }
      for (const h of [...hosts]) {
        let name = h;
        for (let i = 0; i < 8; i++) {
          const link = this.get(name, "CNAME")?.records[0];
          if (link?.type !== "CNAME") break;
          name = link.target.toLowerCase();
          hosts.add(name);
        }
      }
    }
    const out: [string, CachedSet][] = [];
    for (const [key, set] of this.#sets) {
      if (set.expiresAt <= now) {
        this.#sets.delete(key);
        continue;
      }
      if (d && set.name !== d && !set.name.endsWith(`.${d}`) && !hosts.has(set.name)) continue;
      out.push([key, set]);
    }
    return out;
  }

  /** One row per record (negative answers: one row, value NXDOMAIN or NODATA). */
  entries(domain?: string): { name: string; type: string; value: string; expiresAt: number }[] {
    const rows: { name: string; type: string; value: string; expiresAt: number }[] = [];
    for (const [, set] of this.#matching(domain)) {
      if (set.negative) {
        rows.push({
          name: set.name,
          type: set.type,
          value: set.negative,
          expiresAt: set.expiresAt,
        });
        continue;
      }
      for (const r of set.records) {
        rows.push({
          name: set.name,
          type: set.type,
          value: formatRData(r),
          expiresAt: set.expiresAt,
        });
      }
    }
    return rows.sort((a, b) =>
      a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name)
    );
  }

  /** Drops every entry (or those #matching `domain`); returns how many. */
  flush(domain?: string): number {
    if (!domain) {
      const n = this.#sets.size;
      this.#sets.clear();
      return n;
    }
    const found = this.#matching(domain);
    for (const [key] of found) this.#sets.delete(key);
    return found.length;
  }
}
