/**
 * Deny entries (SPEC §5) as an immutable, indexed list: IPIN/IPOUT match networks,
 * DOMAININ/DOMAINOUT a domain and its sub-domains, MAILBOXIN/MAILBOXOUT one address.
 */
import { isIP } from "node:net";
import { CidrSet } from "../config/cidr.ts";
import { normalizeDomain, parseAddress } from "./names.ts";
import { DENY_KINDS, type DenyEntry, type DenyKind, DirectoryError } from "./records.ts";

export class DenyList {
  readonly #entries: readonly DenyEntry[];
  readonly #index = new Map<DenyKind, { set: Set<string>; cidrs: CidrSet | null }>();

  constructor(entries: readonly DenyEntry[]) {
    this.#entries = Object.freeze(
      [...entries].sort((a, b) =>
        a.kind === b.kind ? a.value.localeCompare(b.value) : a.kind.localeCompare(b.kind)
      ),
    );
    for (const kind of DENY_KINDS) {
      const values = this.#entries.filter((d) => d.kind === kind).map((d) => d.value);
      const isIp = kind === "IPIN" || kind === "IPOUT";
      this.#index.set(kind, { set: new Set(values), cidrs: isIp ? new CidrSet(values) : null });
    }
  }

  entries(kind?: DenyKind): readonly DenyEntry[] {
    return kind ? this.#entries.filter((d) => d.kind === kind) : this.#entries;
  }

  has(kind: DenyKind, normalizedValue: string): boolean {
    return this.#index.get(kind)!.set.has(normalizedValue);
  }

  /** This list with one entry more. */
  with(entry: DenyEntry): DenyList {
    return new DenyList([...this.#entries, entry]);
  }

  /** This list without the given entries. */
  without(doomed: readonly DenyEntry[]): DenyList {
    const gone = new Set(doomed.map((d) => `${d.kind} ${d.value}`));
    return new DenyList(this.#entries.filter((d) => !gone.has(`${d.kind} ${d.value}`)));
  }

  /**
   * IPIN/IPOUT: the address is inside a listed network. DOMAIN*: the domain or a
   * parent of it is listed. MAILBOX*: the exact address (case-insensitive).
   */
  isDenied(kind: DenyKind, value: string): boolean {
    const entry = this.#index.get(kind);
    if (!entry || entry.set.size === 0) return false;
    if (entry.cidrs) return isIP(value) !== 0 && entry.cidrs.contains(value);
    let v = value.toLowerCase();
    if (kind === "MAILBOXIN" || kind === "MAILBOXOUT") return entry.set.has(v);
    for (;;) {
      if (entry.set.has(v)) return true;
      const dot = v.indexOf(".");
      if (dot < 0) return false;
      v = v.slice(dot + 1);
    }
  }
}

/** The canonical form of a deny value; throws NameError/DirectoryError when invalid. */
export function normalizeDenyValue(kind: DenyKind, raw: string): string {
  const value = raw.trim();
  switch (kind) {
    case "IPIN":
    case "IPOUT":
      try {
        new CidrSet([value]);
      } catch {
        throw new DirectoryError(`${kind}=${raw} is not an IP address or network (ip/mask)`);
      }
      return value.toLowerCase();
    case "DOMAININ":
    case "DOMAINOUT":
      return normalizeDomain(value);
    case "MAILBOXIN":
    case "MAILBOXOUT": {
      const a = parseAddress(value);
      return `${a.local.toLowerCase()}@${a.domain}`;
    }
  }
}
