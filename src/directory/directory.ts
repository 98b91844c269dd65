/**
 * The directory: domains, users, aliases, mailing lists and deny entries.
 *
 * Stored in SQLite (directory_sql.ts): every change is one transaction, on disk before
 * the call returns. Reads never touch SQLite: the whole directory is mirrored in Maps
 * of immutable records, so lookups are O(1) and a change is one synchronous step that
 * no reader can observe half-done. Input is checked and normalized by
 * directory_input.ts.
 */
import { DenyList, normalizeDenyValue } from "./deny.ts";
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from "./password.ts";
import { Rehasher } from "./rehash.ts";
import { addressKey, normalizeDomain, normalizeLocalPart } from "./names.ts";
import {
  type AliasRecord,
  type DenyEntry,
  type DenyKind,
  DirectoryError,
  type ListAccess,
  type ListRecord,
  type LocalTarget,
  type UserRecord,
} from "./records.ts";
import { DirectoryDb } from "./directory_sql.ts";
import {
  aliasName,
  type NewUser,
  newUserRecord,
  normalizeAddresses,
  normalizeMap,
  normalizeUserDir,
  settingChanges,
  type UserChanges,
  wrapName,
} from "./directory_input.ts";

export { type NewUser, normalizeUserDir, type UserChanges } from "./directory_input.ts";

export class Directory {
  readonly #db: DirectoryDb;
  readonly #domains = new Set<string>();
  readonly #users = new Map<string, UserRecord>();
  readonly #maps = new Map<string, string>(); // map login -> user key
  readonly #aliases = new Map<string, AliasRecord>();
  readonly #lists = new Map<string, ListRecord>();
  #deny = new DenyList([]);
  readonly #rehasher = new Rehasher();
  #closed = false;

  private constructor(db: DirectoryDb) {
    this.#db = db;
    const all = db.readAll();
    for (const name of all.domains) this.#domains.add(name);
    for (const user of all.users) {
      this.#users.set(addressKey(user.name, user.domain), user);
      if (user.map) this.#maps.set(user.map, addressKey(user.name, user.domain));
    }
    for (const alias of all.aliases) this.#aliases.set(addressKey(alias.name, alias.domain), alias);
    for (const list of all.lists) this.#lists.set(addressKey(list.name, list.domain), list);
    this.#deny = new DenyList(all.deny);
  }

  static open(dirBase: string): Directory {
    return new Directory(DirectoryDb.open(dirBase));
  }

  close(): void {
    this.#closed = true;
    this.#db.close();
  }

  /** Bumped on every change; caches elsewhere compare it. */
  get generation(): number {
    return this.#db.generation;
  }

  // ---- domains ----

  isLocalDomain(domain: string): boolean {
    return this.#domains.has(domain.toLowerCase());
  }

  domains(): string[] {
    return [...this.#domains].sort();
  }

  addDomain(input: string): string {
    const name = wrapName(() => normalizeDomain(input));
    if (this.#domains.has(name)) throw new DirectoryError(`domain ${name} already exists`);
    this.#db.insertDomain(name);
    this.#domains.add(name);
    return name;
  }

  /** Deletes a domain with everything in it; returns the users removed (for their mail). */
  delDomain(input: string): UserRecord[] {
    const name = this.#requireDomain(input);
    const users = this.users(name);
    this.#db.deleteDomain(name);
    this.#domains.delete(name);
    for (const u of users) {
      this.#users.delete(addressKey(u.name, u.domain));
      if (u.map) this.#maps.delete(u.map);
    }
    for (const [k, a] of this.#aliases) if (a.domain === name) this.#aliases.delete(k);
    for (const [k, l] of this.#lists) if (l.domain === name) this.#lists.delete(k);
    return users;
  }

  domainCounts(input: string): { users: number; aliases: number; lists: number } {
    const name = this.#requireDomain(input);
    return {
      users: this.users(name).length,
      aliases: this.aliases(name).length,
      lists: this.lists(name).length,
    };
  }

  #requireDomain(input: string): string {
    const domain = wrapName(() => normalizeDomain(input));
    if (!this.#domains.has(domain)) throw new DirectoryError(`domain ${domain} does not exist`);
    return domain;
  }

  /** Refuses a local part already taken by a user, alias or list of the domain. */
  #requireFree(name: string, domain: string): void {
    const key = addressKey(name, domain);
    if (this.#users.has(key)) throw new DirectoryError(`user ${key} already exists`);
    if (this.#aliases.has(key)) throw new DirectoryError(`alias ${key} already exists`);
    if (this.#lists.has(key)) throw new DirectoryError(`list ${key} already exists`);
    // A list's bounce address (SPEC §5) must not be shadowed either.
    const list = /^(.+)-bounces$/.exec(name);
    if (list && this.#lists.has(addressKey(list[1], domain))) {
      throw new DirectoryError(`${key} is the bounce address of list ${list[1]}@${domain}`);
    }
  }

  // ---- users ----

  getUser(name: string, domain: string): UserRecord | undefined {
    return this.#users.get(addressKey(name, domain));
  }

  /** Resolves a login name: `user@domain` or a MAP name (SPEC §5 account mapping). */
  findLogin(login: string): UserRecord | undefined {
    const key = login.trim().toLowerCase();
    // SPEC §5: the canonical login user@domain always names its own user.
    const user = this.#users.get(key);
    if (user) return user;
    const mapped = this.#maps.get(key);
    return mapped ? this.#users.get(mapped) : undefined;
  }

  /**
   * Checks a login and password; resolves to the user or undefined. A login without an
   * account (or without a password) costs the same scrypt as a wrong password (SPEC §7:
   * timing does not tell which accounts exist). A hash made with older parameters is
   * replaced after the login succeeds (rehashInBackground).
   */
  async authenticate(login: string, password: string): Promise<UserRecord | undefined> {
    const user = this.findLogin(login);
    if (!user || !user.passHash) return await dummyVerify(password) || undefined;
    const ok = await verifyPassword(password, user.passHash);
    // The record may have been replaced or deleted while scrypt ran.
    const current = this.getUser(user.name, user.domain);
    if (!ok || !current || current.passHash !== user.passHash) return undefined;
    if (needsRehash(current.passHash)) this.#rehashInBackground(current, password);
    return current;
  }

  /** Replaces an older hash of `user` by one with today's parameters (rehash.ts). */
  #rehashInBackground(user: UserRecord, password: string): void {
    const key = addressKey(user.name, user.domain);
    this.#rehasher.schedule(key, password, (passHash) => {
      const current = this.#users.get(key);
      // Skipped when the password changed (or the user went) while scrypt ran.
      if (!current || current.passHash !== user.passHash || this.#closed) return;
      const next: UserRecord = Object.freeze({ ...current, passHash });
      this.#db.putUser(next, true);
      this.#users.set(key, next);
    });
  }

  /** Resolves when the password re-hashes started so far are written (tests, shutdown). */
  rehashed(): Promise<void> {
    return this.#rehasher.settled();
  }

  users(domain?: string): UserRecord[] {
    const list = [...this.#users.values()].filter((u) => !domain || u.domain === domain);
    return list.sort((a, b) =>
      a.domain === b.domain ? a.name.localeCompare(b.name) : a.domain.localeCompare(b.domain)
    );
  }

  async addUser(input: NewUser): Promise<UserRecord> {
    const name = wrapName(() => normalizeLocalPart(input.name));
    if (name === "*") throw new DirectoryError('"*" is the catch-all alias name, not a user name');
    const domain = this.#requireDomain(input.domain);
    const dir = input.dir === undefined ? "" : normalizeUserDir(input.dir);
    this.#requireFree(name, domain);
    const passHash = input.password ? await hashPassword(input.password) : "";
    // Re-check after the await: another session may have added the same name.
    this.#requireDomain(domain);
    this.#requireFree(name, domain);
    // MAP logins are unique on the server (SPEC §5): a new user may not take one as its login.
    const mapOwner = this.#maps.get(addressKey(name, domain));
    if (mapOwner) {
      throw new DirectoryError(`${addressKey(name, domain)} is the MAP login of ${mapOwner}`);
    }
    const user = newUserRecord(name, domain, dir, passHash, input);
    this.#db.putUser(user, false);
    this.#users.set(addressKey(name, domain), user);
    return user;
  }

  async modUser(nameIn: string, domainIn: string, changes: UserChanges): Promise<UserRecord> {
    const { name, domain } = this.#userKey(nameIn, domainIn);
    this.#requireUser(name, domain);
    const next = settingChanges(changes);
    if (changes.map !== undefined) next.map = this.#checkMap(changes.map, name, domain);
    if (changes.password !== undefined) {
      next.passHash = changes.password === "" ? "" : await hashPassword(changes.password);
    }
    // Re-read after the await so concurrent changes to other fields are not lost.
    const current = this.#requireUser(name, domain);
    if (next.map !== undefined) this.#checkMap(String(next.map), name, domain);
    const user: UserRecord = Object.freeze({ ...current, ...next });
    this.#db.putUser(user, true);
    const key = addressKey(name, domain);
    if (current.map) this.#maps.delete(current.map);
    if (user.map) this.#maps.set(user.map, key);
    this.#users.set(key, user);
    return user;
  }

  /** A MAP login for the user, refused when another user has it as MAP or login. */
  #checkMap(raw: string, name: string, domain: string): string {
    const map = normalizeMap(raw);
    if (map === "") return "";
    const owner = this.#maps.get(map);
    if (owner && owner !== addressKey(name, domain)) {
      throw new DirectoryError(`MAP ${map} is already used by ${owner}`);
    }
    if (this.#users.has(map) && map !== addressKey(name, domain)) {
      throw new DirectoryError(`MAP ${map} is the login of another user`);
    }
    return map;
  }

  delUser(nameIn: string, domainIn: string): UserRecord {
    const { name, domain } = this.#userKey(nameIn, domainIn);
    const user = this.#requireUser(name, domain);
    this.#db.deleteUser(domain, name);
    this.#users.delete(addressKey(name, domain));
    if (user.map) this.#maps.delete(user.map);
    return user;
  }

  #userKey(nameIn: string, domainIn: string): { name: string; domain: string } {
    return wrapName(() => ({
      name: normalizeLocalPart(nameIn),
      domain: normalizeDomain(domainIn),
    }));
  }

  #requireUser(name: string, domain: string): UserRecord {
    const user = this.#users.get(addressKey(name, domain));
    if (!user) throw new DirectoryError(`user ${name}@${domain} does not exist`);
    return user;
  }

  // ---- aliases ----

  getAlias(name: string, domain: string): AliasRecord | undefined {
    return this.#aliases.get(addressKey(name, domain));
  }

  aliases(domain?: string): AliasRecord[] {
    return [...this.#aliases.values()].filter((a) => !domain || a.domain === domain)
      .sort((a, b) => addressKey(a.name, a.domain).localeCompare(addressKey(b.name, b.domain)));
  }

  addAlias(nameIn: string, domainIn: string, forward: string[]): AliasRecord {
    const domain = this.#requireDomain(domainIn);
    const name = aliasName(nameIn);
    this.#requireFree(name, domain);
    if (forward.length === 0) throw new DirectoryError("FORWARD needs at least one address");
    const alias: AliasRecord = Object.freeze({
      name,
      domain,
      forward: Object.freeze(normalizeAddresses(forward)),
    });
    this.#db.insertAlias(alias);
    this.#aliases.set(addressKey(name, domain), alias);
    return alias;
  }

  delAlias(nameIn: string, domainIn: string): AliasRecord {
    const domain = wrapName(() => normalizeDomain(domainIn));
    const name = aliasName(nameIn);
    const alias = this.#aliases.get(addressKey(name, domain));
    if (!alias) throw new DirectoryError(`alias ${name}@${domain} does not exist`);
    this.#db.deleteAlias(domain, name);
    this.#aliases.delete(addressKey(name, domain));
    return alias;
  }

  // ---- mailing lists ----

  getList(name: string, domain: string): ListRecord | undefined {
    return this.#lists.get(addressKey(name, domain));
  }

  lists(domain?: string): ListRecord[] {
    return [...this.#lists.values()].filter((l) => !domain || l.domain === domain)
      .sort((a, b) => addressKey(a.name, a.domain).localeCompare(addressKey(b.name, b.domain)));
  }

  addList(nameIn: string, domainIn: string, access: ListAccess = "PUBLIC"): ListRecord {
    const domain = this.#requireDomain(domainIn);
    const name = wrapName(() => normalizeLocalPart(nameIn));
    if (name === "*") throw new DirectoryError('"*" is the catch-all alias name, not a list name');
    this.#requireFree(name, domain);
    // The list's bounce address (SPEC §5) must not shadow anything either.
    if (this.#resolveExact(`${name}-bounces`, domain)) {
      throw new DirectoryError(`${name}-bounces@${domain} is taken; the list needs it for bounces`);
    }
    const list: ListRecord = Object.freeze({ name, domain, access, members: Object.freeze([]) });
    this.#db.insertList(list);
    this.#lists.set(addressKey(name, domain), list);
    return list;
  }

  delList(nameIn: string, domainIn: string): ListRecord {
    const list = this.#requireList(nameIn, domainIn);
    this.#db.deleteList(list.domain, list.name);
    this.#lists.delete(addressKey(list.name, list.domain));
    return list;
  }

  addMember(nameIn: string, domainIn: string, mailbox: string): ListRecord {
    const list = this.#requireList(nameIn, domainIn);
    const [addr] = normalizeAddresses([mailbox]);
    if (list.members.includes(addr)) {
      throw new DirectoryError(`${addr} is already a member of ${list.name}@${list.domain}`);
    }
    this.#db.insertMember(list, addr);
    return this.#replaceList(list, [...list.members, addr].sort());
  }

  delMember(nameIn: string, domainIn: string, mailbox: string): ListRecord {
    const list = this.#requireList(nameIn, domainIn);
    const [addr] = normalizeAddresses([mailbox]);
    if (!list.members.includes(addr)) {
      throw new DirectoryError(`${addr} is not a member of ${list.name}@${list.domain}`);
    }
    this.#db.deleteMember(list, addr);
    return this.#replaceList(list, list.members.filter((m) => m !== addr));
  }

  #replaceList(list: ListRecord, members: string[]): ListRecord {
    const next: ListRecord = Object.freeze({ ...list, members: Object.freeze(members) });
    this.#lists.set(addressKey(list.name, list.domain), next);
    return next;
  }

  #requireList(nameIn: string, domainIn: string): ListRecord {
    const domain = wrapName(() => normalizeDomain(domainIn));
    const name = wrapName(() => normalizeLocalPart(nameIn));
    const list = this.#lists.get(addressKey(name, domain));
    if (!list) throw new DirectoryError(`list ${name}@${domain} does not exist`);
    return list;
  }

  // ---- resolution for the mail services ----

  #resolveExact(local: string, domain: string): LocalTarget | undefined {
    const key = addressKey(local, domain);
    const user = this.#users.get(key);
    if (user) return { kind: "user", user };
    const alias = this.#aliases.get(key);
    if (alias) return { kind: "alias", alias };
    const list = this.#lists.get(key);
    if (list) return { kind: "list", list };
    return undefined;
  }

  /** What `local@domain` is on this server; the catch-all alias answers last. */
  resolveLocal(local: string, domain: string): LocalTarget {
    const exact = this.#resolveExact(local, domain);
    if (exact) return exact;
    const catchAll = this.#aliases.get(addressKey("*", domain));
    if (catchAll && this.#domains.has(domain.toLowerCase())) {
      return { kind: "catchall", alias: catchAll };
    }
    return { kind: "unknown" };
  }

  // ---- deny entries ----

  denies(kind?: DenyKind): readonly DenyEntry[] {
    return this.#deny.entries(kind);
  }

  addDeny(kind: DenyKind, rawValue: string): DenyEntry {
    const value = wrapName(() => normalizeDenyValue(kind, rawValue));
    if (this.#deny.has(kind, value)) {
      throw new DirectoryError(`deny ${kind}=${value} already exists`);
    }
    const entry = Object.freeze({ kind, value });
    this.#db.insertDeny(entry);
    this.#deny = this.#deny.with(entry);
    return entry;
  }

  /** Deletes all entries, all of one kind, or one; returns how many went. */
  delDeny(kind?: DenyKind, rawValue?: string): number {
    let doomed: readonly DenyEntry[];
    if (kind && rawValue !== undefined) {
      const value = wrapName(() => normalizeDenyValue(kind, rawValue));
      if (!this.#deny.has(kind, value)) {
        throw new DirectoryError(`deny ${kind}=${value} does not exist`);
      }
      doomed = [{ kind, value }];
    } else {
      doomed = this.#deny.entries(kind);
    }
    this.#db.deleteDenies(doomed);
    this.#deny = this.#deny.without(doomed);
    return doomed.length;
  }

  /** See DenyList.isDenied. */
  isDenied(kind: DenyKind, value: string): boolean {
    return this.#deny.isDenied(kind, value);
  }
}
