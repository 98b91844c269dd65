/**
 * The server's own look-ups: for outbound mail MX (RFC 5321 §5.1) with null MX
 * (RFC 7505) and the implicit MX, then A/AAAA of each host; for mail authentication
 * (src/mailauth/) TXT, PTR and CNAME too. CNAMEs are followed (RFC 1034 §3.6.2) and
 * every answer, positive or negative (RFC 2308), is cached.
 */
import { isIP } from "node:net";
import { DnsCache, type Negative } from "./cache.ts";
import { type DnsMessage, Rcode, type RData, RRType } from "./message.ts";
import { ServerHealth } from "./health.ts";
import {
  DnsTransportError,
  type NameServer,
  parseServers,
  query,
  systemServers,
} from "./transport.ts";
import { log } from "../log.ts";

/** The answer could not be had now (timeout, SERVFAIL): try again later (4.4.3). */
export class DnsTempError extends Error {
  /** "ESERVFAIL" when a server answered with an error rcode, "ETIMEOUT" when none answered. */
  constructor(message: string, readonly code: "ESERVFAIL" | "ETIMEOUT" = "ESERVFAIL") {
    super(message);
  }
}

/** The record types the resolver looks up and caches. */
export type LookupType = "MX" | "A" | "AAAA" | "TXT" | "PTR" | "CNAME";

export type MxLookup =
  /** Usable MX hosts, best first; equal preferences in random order. */
  | { kind: "mx"; hosts: { preference: number; host: string }[] }
  /** RFC 7505: the domain accepts no mail. */
  | { kind: "nullmx" }
  /** No MX records: the domain itself is the implicit MX (RFC 5321 §5.1). */
  | { kind: "implicit" }
  /** The domain does not exist. */
  | { kind: "nxdomain" };

export interface ResolverOptions {
  /** DNSServer from the live configuration; [] means the system's resolvers. */
  servers: () => readonly string[];
  /** The first try's timeout (ms, default 1000); each round over the servers doubles it. */
  timeoutMs?: number;
  /** A look-up's whole time (ms, default 6000: glibc's 5 s and 2 attempts, shortened). */
  budgetMs?: number;
  /** How long a server silent through a whole look-up is skipped (ms, health.ts). */
  deadMs?: number;
  now?: () => number;
  random?: () => number;
  /** Told whether each look-up was answered from the cache (metrics, SPEC §10). */
  onCacheLookup?: (hit: boolean) => void;
}

export interface Answer {
  records: RData[];
  negative: Negative;
}

const MAX_CNAME_CHAIN = 8;
/** Seconds a negative answer without an SOA is cached. */
const NEGATIVE_TTL_WITHOUT_SOA = 60;

export class Resolver {
  readonly cache: DnsCache;
  readonly #opts: ResolverOptions;
  readonly #inflight = new Map<string, Promise<Answer>>();
  readonly #health: ServerHealth;
  /** Queries sent to a server (not answered from the cache), for the logs and tests. */
  queries = 0;

  constructor(opts: ResolverOptions) {
    this.#opts = opts;
    this.cache = new DnsCache(opts.now);
    this.#health = new ServerHealth(opts.deadMs);
  }

  /**
   * Records of `type` for `name` after following CNAMEs (not for a CNAME question), from
   * the cache when fresh.
   */
  resolve(name: string, type: LookupType, depth = 0): Promise<Answer> {
    const owner = name.toLowerCase().replace(/\.$/, "");
    const hit = this.cache.get(owner, type);
    if (hit) {
      this.#opts.onCacheLookup?.(true);
      return Promise.resolve({ records: hit.records, negative: hit.negative });
    }
    const alias = type === "CNAME" ? undefined : this.cache.get(owner, "CNAME");
    if (alias && alias.records[0]?.type === "CNAME") {
      if (depth >= MAX_CNAME_CHAIN) {
        return Promise.reject(new DnsTempError(`CNAME chain too long at ${owner}`));
      }
      return this.resolve(alias.records[0].target, type, depth + 1);
    }
    this.#opts.onCacheLookup?.(false);
    const key = `${owner}/${type}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#ask(owner, type, depth).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #ask(owner: string, type: LookupType, depth: number): Promise<Answer> {
    const configured = parseServers(this.#opts.servers());
    const servers = configured.length > 0 ? configured : await systemServers();
    let reply: DnsMessage;
    this.queries++;
    try {
      reply = await query(servers, owner, RRType[type], {
        firstTryMs: this.#opts.timeoutMs ?? 1000,
        budgetMs: this.#opts.budgetMs ?? 6000,
        health: this.#health,
        onDead: (server) => this.#reportDead(server, configured.length > 0),
      });
    } catch (e) {
      if (e instanceof DnsTransportError) {
        throw new DnsTempError(`${owner} ${type}: ${e.message}`, "ETIMEOUT");
      }
      throw e;
    }
    if (reply.rcode !== Rcode.NOERROR && reply.rcode !== Rcode.NXDOMAIN) {
      throw new DnsTempError(`${owner} ${type}: server answered rcode ${reply.rcode}`);
    }
    // Walk the CNAME chain the resolver put in the answer, caching each link.
    let current = owner;
    for (let i = 0; i < MAX_CNAME_CHAIN && type !== "CNAME"; i++) {
      const link = reply.answers.find((rr) =>
        rr.data.type === "CNAME" && rr.name.toLowerCase() === current
      );
      if (!link || link.data.type !== "CNAME") break;
      this.cache.put(current, "CNAME", [link.data], "", link.ttl);
      current = link.data.target.toLowerCase();
    }
    const found = reply.answers.filter((rr) =>
      rr.data.type === type && rr.name.toLowerCase() === current
    );
    if (found.length > 0) {
      const ttl = Math.min(...found.map((rr) => rr.ttl));
      const records = found.map((rr) => rr.data);
      this.cache.put(current, type, records, "", ttl);
      return { records, negative: "" };
    }
    // RFC 2308 §5: the negative TTL is the SOA's TTL bounded by its MINIMUM field.
    const soa = reply.authorities.find((rr) => rr.data.type === "SOA");
    if (current !== owner && !soa && reply.rcode === Rcode.NOERROR) {
      // The resolver did not chase the alias: ask for the target ourselves.
      if (depth >= MAX_CNAME_CHAIN) throw new DnsTempError(`CNAME chain too long at ${owner}`);
      return await this.resolve(current, type, depth + 1);
    }
    const negative: Negative = reply.rcode === Rcode.NXDOMAIN ? "NXDOMAIN" : "NODATA";
    // Without an SOA, §5 advises against caching to stop loops between resolvers; a
    // stub that serves no one cannot loop, so such answers are kept briefly.
    const ttl = soa && soa.data.type === "SOA"
      ? Math.min(soa.ttl, soa.data.minimum)
      : NEGATIVE_TTL_WITHOUT_SOA;
    this.cache.put(current, type, [], negative, ttl);
    return { records: [], negative };
  }

  /** The admin's line when a resolver is found silent: which, from where, what to do. */
  #reportDead(server: NameServer, configured: boolean): void {
    const where = configured
      ? `DNSServer = ${JSON.stringify(this.#opts.servers())}`
      : "/etc/resolv.conf (DNSServer = [])";
    const name = `${server.ip}:${server.port}`;
    log("dns").warn(
      `DNS server ${name} from ${where} does not answer: skipped for ` +
        `${this.#health.deadMs / 1000} s, and look-ups fail at once while no server answers; ` +
        `check that a resolver listens at ${name}, or set DNSServer to one that does`,
    );
  }

  /** RFC 5321 §5.1 and RFC 7505: where mail for `domain` goes. */
  async lookupMx(domain: string): Promise<MxLookup> {
    const answer = await this.resolve(domain, "MX");
    if (answer.negative === "NXDOMAIN") return { kind: "nxdomain" };
    const mx = answer.records.flatMap((r) => r.type === "MX" ? [r] : []);
    if (mx.length === 0) return { kind: "implicit" };
    // RFC 7505 §3: a single MX whose exchange is the root means "no mail service";
    // a "." among real hosts is a misconfiguration and is skipped.
    const usable = mx.filter((r) => r.exchange !== "" && r.exchange !== ".");
    if (usable.length === 0) return { kind: "nullmx" };
    const random = this.#opts.random ?? Math.random;
    const shuffled = usable.map((r) => ({ r, k: random() }));
    shuffled.sort((a, b) => a.r.preference - b.r.preference || a.k - b.k);
    return {
      kind: "mx",
      hosts: shuffled.map(({ r }) => ({ preference: r.preference, host: r.exchange })),
    };
  }

  /**
   * The addresses of a host, IPv4 first. [] when the host has none; DnsTempError when
   * neither look-up could be answered (or one failed and the other found nothing).
   * Once one family has answered with addresses, the other gets a short grace period
   * (RFC 8305 §3 "Resolution Delay", 50 ms) instead of holding delivery up; its answer
   * still lands in the cache.
   */
  async lookupAddresses(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const families = (["A", "AAAA"] as const).map((type) => {
      const state: { answer?: Answer; error?: unknown } = {};
      const done = this.resolve(host, type).then(
        (answer) => void (state.answer = answer),
        (error) => void (state.error = error),
      );
      return { state, done };
    });
    const found = (i: number) => (families[i].state.answer?.records.length ?? 0) > 0;
    await Promise.race(families.map((f, i) =>
      f.done.then(() => {
        if (!found(i)) return families[1 - i].done;
      })
    ));
    if (families.some((_, i) => found(i))) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(families.map((f) => f.done)),
        new Promise((r) => (timer = setTimeout(r, 50))),
      ]);
      clearTimeout(timer);
    }
    const addrs: string[] = [];
    for (const { state } of families) {
      for (const rec of state.answer?.records ?? []) {
        if (rec.type === "A" || rec.type === "AAAA") addrs.push(rec.address);
      }
    }
    if (addrs.length === 0) {
      const failed = families.find((f) => f.state.error !== undefined);
      if (failed) throw failed.state.error;
    }
    return addrs;
  }
}
