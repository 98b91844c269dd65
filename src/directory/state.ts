/**
 * The in-memory mirror of the directory: Maps of immutable records, so every lookup is
 * O(1) and never touches the database. A change is applied in one synchronous step
 * (`apply`), so no reader sees half of it; a full re-read builds a new state that replaces
 * the old one at once (`DirectoryState.from`). The rules that a change must not break
 * (a name taken once per domain, MAP logins unique) are checked here, against this state.
 */
import type { DirectoryChange, DirectoryContent } from "./changes.ts";
import { DenyList } from "./deny.ts";
import { addressKey, normalizeDomain, normalizeLocalPart } from "./names.ts";
import {
  type AliasRecord,
  DirectoryError,
  type ListRecord,
  type LocalTarget,
  type UserRecord,
} from "./records.ts";
import { normalizeMap, wrapName } from "./directory_input.ts";

export class DirectoryState {
  readonly domains = new Set<string>();
  readonly users = new Map<string, UserRecord>();
  /** MAP login -> user key (user@domain). */
  readonly maps = new Map<string, string>();
  readonly aliases = new Map<string, AliasRecord>();
  readonly lists = new Map<string, ListRecord>();
  deny = new DenyList([]);

  static from(content: DirectoryContent): DirectoryState {
    const state = new DirectoryState();
    for (const name of content.domains) state.domains.add(name);
    for (const user of content.users) state.#putUser(user);
    for (const alias of content.aliases) {
      state.aliases.set(addressKey(alias.name, alias.domain), alias);
    }
    for (const list of content.lists) state.lists.set(addressKey(list.name, list.domain), list);
    state.deny = new DenyList(content.deny);
    return state;
  }

  // ---- the rules a change is checked against (inside its transaction) ----

  /** The domain, normalized, that must exist. */
  requireDomain(input: string): string {
    const domain = wrapName(() => normalizeDomain(input));
    if (!this.domains.has(domain)) throw new DirectoryError(`domain ${domain} does not exist`);
    return domain;
  }

  /** Refuses a local part already taken by a user, alias or list of the domain. */
  requireFree(name: string, domain: string): void {
    const key = addressKey(name, domain);
    if (this.users.has(key)) throw new DirectoryError(`user ${key} already exists`);
    if (this.aliases.has(key)) throw new DirectoryError(`alias ${key} already exists`);
    if (this.lists.has(key)) throw new DirectoryError(`list ${key} already exists`);
    // A list's bounce address (SPEC §5) must not be shadowed either.
    const list = /^(.+)-bounces$/.exec(name);
    if (list && this.lists.has(addressKey(list[1], domain))) {
      throw new DirectoryError(`${key} is the bounce address of list ${list[1]}@${domain}`);
    }
  }

  /** A MAP login for the user, refused when another user has it as MAP or login. */
  checkMap(raw: string, name: string, domain: string): string {
    const map = normalizeMap(raw);
    if (map === "") return "";
    const owner = this.maps.get(map);
    if (owner && owner !== addressKey(name, domain)) {
      throw new DirectoryError(`MAP ${map} is already used by ${owner}`);
    }
    if (this.users.has(map) && map !== addressKey(name, domain)) {
      throw new DirectoryError(`MAP ${map} is the login of another user`);
    }
    return map;
  }

  requireUser(name: string, domain: string): UserRecord {
    const user = this.users.get(addressKey(name, domain));
    if (!user) throw new DirectoryError(`user ${name}@${domain} does not exist`);
    return user;
  }

  requireList(nameIn: string, domainIn: string): ListRecord {
    const domain = wrapName(() => normalizeDomain(domainIn));
    const name = wrapName(() => normalizeLocalPart(nameIn));
    const list = this.lists.get(addressKey(name, domain));
    if (!list) throw new DirectoryError(`list ${name}@${domain} does not exist`);
    return list;
  }

  /** The user, alias or list named exactly `local@domain` (no catch-all). */
  resolveExact(local: string, domain: string): LocalTarget | undefined {
    const key = addressKey(local, domain);
    const user = this.users.get(key);
    if (user) return { kind: "user", user };
    const alias = this.aliases.get(key);
    if (alias) return { kind: "alias", alias };
    const list = this.lists.get(key);
    if (list) return { kind: "list", list };
    return undefined;
  }

  /** Applies one committed change. Changes that no longer fit (already applied) do nothing. */
  apply(change: DirectoryChange): void {
    switch (change.op) {
      case "domain.add":
        this.domains.add(change.name);
        return;
      case "domain.del":
        this.#deleteDomain(change.name);
        return;
      case "user.add":
      case "user.mod":
        this.#putUser(change.user);
        return;
      case "user.del":
        this.#deleteUser(addressKey(change.name, change.domain));
        return;
      case "alias.add":
        this.aliases.set(addressKey(change.alias.name, change.alias.domain), change.alias);
        return;
      case "alias.del":
        this.aliases.delete(addressKey(change.name, change.domain));
        return;
      case "list.add":
        this.lists.set(addressKey(change.list.name, change.list.domain), change.list);
        return;
      case "list.del":
        this.lists.delete(addressKey(change.name, change.domain));
        return;
      case "member.add":
      case "member.del":
        this.#changeMember(change.op === "member.add", change.domain, change.list, change.mailbox);
        return;
      case "deny.add":
        if (!this.deny.has(change.entry.kind, change.entry.value)) {
          this.deny = this.deny.with(change.entry);
        }
        return;
      case "deny.del":
        this.deny = this.deny.without(change.entries);
        return;
      case "dkim.add":
      case "dkim.del":
      case "reload":
        return; // not the directory's (the key store's, the follower's)
    }
  }

  #putUser(user: UserRecord): void {
    const key = addressKey(user.name, user.domain);
    const previous = this.users.get(key);
    if (previous?.map) this.maps.delete(previous.map);
    this.users.set(key, user);
    if (user.map) this.maps.set(user.map, key);
  }

  #deleteUser(key: string): void {
    const user = this.users.get(key);
    if (!user) return;
    this.users.delete(key);
    if (user.map && this.maps.get(user.map) === key) this.maps.delete(user.map);
  }

  #deleteDomain(name: string): void {
    this.domains.delete(name);
    for (const [key, u] of this.users) if (u.domain === name) this.#deleteUser(key);
    for (const [key, a] of this.aliases) if (a.domain === name) this.aliases.delete(key);
    for (const [key, l] of this.lists) if (l.domain === name) this.lists.delete(key);
  }

  #changeMember(add: boolean, domain: string, name: string, mailbox: string): void {
    const key = addressKey(name, domain);
    const list = this.lists.get(key);
    if (!list) return;
    const others = list.members.filter((m) => m !== mailbox);
    const members = add ? [...others, mailbox].sort() : others;
    this.lists.set(key, Object.freeze({ ...list, members: Object.freeze(members) }));
  }
}
