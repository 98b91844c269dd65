/**
 * The directory: domains, users, aliases, mailing lists and deny entries.
 *
 * Reads never touch a database: the whole directory is mirrored in memory (state.ts), so
 * lookups are O(1). A mutation checks its input (directory_input.ts), then hands the
 * backend a plan: inside the backend's transaction (after the changes of other nodes
 * that came before, with PostgreSQL) the plan checks the request against the mirror and
 * describes the result as one DirectoryChange (changes.ts); the backend stores it and
 * applies it to the mirror before the mutation resolves. So a change is durable and
 * visible to every session of this process when the admin gets +OK, and no reader sees
 * half of it. Where it is stored is the backend's affair: SQLite under DirBase (one
 * machine, sqlite.ts) or PostgreSQL shared by several nodes (postgres/), chosen by the
 * configuration key `Directory` (open.ts).
 */
import { normalizeDenyValue } from "./deny.ts";
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
import type { DirectoryBackend, DirectoryChange, DirectoryContent } from "./changes.ts";
import { SqliteBackend } from "./sqlite.ts";
import { DirectoryState } from "./state.ts";
import { addList, addMember, delList, delMember, type DirectoryChanges } from "./list_changes.ts";
import {
  aliasName,
  checkNodeName,
  type NewUser,
  newUserRecord,
  normalizeAddresses,
  normalizeUserDir,
  settingChanges,
  type UserChanges,
  wrapName,
} from "./directory_input.ts";

export { type NewUser, normalizeUserDir, type UserChanges } from "./directory_input.ts";

export class Directory {
  readonly #backend: DirectoryBackend;
  #s: DirectoryState;
  #generation = 0;
  readonly #rehasher = new Rehasher();
  #closed = false;
  /** What the mutations kept in other files work with (list_changes.ts). */
  readonly #changes: DirectoryChanges = {
    commit: (plan) => this.#backend.commit(plan),
    state: () => this.#s,
  };

  constructor(backend: DirectoryBackend) {
    this.#backend = backend;
    this.#s = DirectoryState.from(backend.initial);
    backend.listen({
      applied: (change: DirectoryChange) => {
        this.#s.apply(change);
        this.#generation++;
      },
      reloaded: (content: DirectoryContent) => {
        this.#s = DirectoryState.from(content);
        this.#generation++;
      },
    });
  }

  /** The SQLite directory of one machine under `dirBase` (tests, benchmarks, tools). */
  static open(dirBase: string): Directory {
    return new Directory(SqliteBackend.open(dirBase));
  }

  /** Where the directory is stored (for logs). */
  get backend(): DirectoryBackend {
    return this.#backend;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#backend.close();
  }

  /**
   * Applies every change committed so far on any node, now (SPEC §12: a change another
   * node made at this one's request is visible here when this one answers +OK).
   */
  async catchUp(): Promise<void> {
    await this.#backend.commit(() => null);
  }

  /** Bumped on every change, here or on another node; caches elsewhere compare it. */
  get generation(): number {
    return this.#generation;
  }

  // ---- domains ----

  isLocalDomain(domain: string): boolean {
    return this.#s.domains.has(domain.toLowerCase());
  }

  domains(): string[] {
    return [...this.#s.domains].sort();
  }

  async addDomain(input: string): Promise<string> {
    const name = wrapName(() => normalizeDomain(input));
    await this.#backend.commit(() => {
      if (this.#s.domains.has(name)) throw new DirectoryError(`domain ${name} already exists`);
      return { op: "domain.add", name };
    });
    return name;
  }

  /** Deletes a domain with everything in it; returns the users removed (for their mail). */
  async delDomain(input: string): Promise<UserRecord[]> {
    let users: UserRecord[] = [];
    await this.#backend.commit(() => {
      const name = this.#s.requireDomain(input);
      users = this.users(name);
      return { op: "domain.del", name };
    });
    return users;
  }

  domainCounts(input: string): { users: number; aliases: number; lists: number } {
    const name = this.#s.requireDomain(input);
    return {
      users: this.users(name).length,
      aliases: this.aliases(name).length,
      lists: this.lists(name).length,
    };
  }

  // ---- users ----

  getUser(name: string, domain: string): UserRecord | undefined {
    return this.#s.users.get(addressKey(name, domain));
  }

  /** Resolves a login name: `user@domain` or a MAP name (SPEC §5 account mapping). */
  findLogin(login: string): UserRecord | undefined {
    const key = login.trim().toLowerCase();
    // SPEC §5: the canonical login user@domain always names its own user.
    const user = this.#s.users.get(key);
    if (user) return user;
    const mapped = this.#s.maps.get(key);
    return mapped ? this.#s.users.get(mapped) : undefined;
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
    this.#rehasher.schedule(key, password, async (passHash) => {
      await this.#backend.commit(() => {
        const current = this.#s.users.get(key);
        // Skipped when the password changed (or the user went) while scrypt ran.
        if (!current || current.passHash !== user.passHash || this.#closed) return null;
        return { op: "user.mod", user: Object.freeze({ ...current, passHash }) };
      });
    });
  }

  /** Resolves when the password re-hashes started so far are written (tests, shutdown). */
  rehashed(): Promise<void> {
    return this.#rehasher.settled();
  }

  users(domain?: string): UserRecord[] {
    const list = [...this.#s.users.values()].filter((u) => !domain || u.domain === domain);
    return list.sort((a, b) =>
      a.domain === b.domain ? a.name.localeCompare(b.name) : a.domain.localeCompare(b.domain)
    );
  }

  async addUser(input: NewUser): Promise<UserRecord> {
    const name = wrapName(() => normalizeLocalPart(input.name));
    if (name === "*") throw new DirectoryError('"*" is the catch-all alias name, not a user name');
    const domain = this.#s.requireDomain(input.domain);
    const dir = input.dir === undefined ? "" : normalizeUserDir(input.dir);
    const node = checkNodeName(input.node ?? "");
    this.#s.requireFree(name, domain);
    const passHash = input.password ? await hashPassword(input.password) : "";
    let user!: UserRecord;
    await this.#backend.commit(() => {
      // Checked again in the transaction: another session or node may have added the name.
      this.#s.requireDomain(domain);
      this.#s.requireFree(name, domain);
      // MAP logins are unique on the server (SPEC §5): a new user may not take one as its login.
      const mapOwner = this.#s.maps.get(addressKey(name, domain));
      if (mapOwner) {
        throw new DirectoryError(`${addressKey(name, domain)} is the MAP login of ${mapOwner}`);
      }
      user = newUserRecord(name, domain, dir, passHash, node, input);
      return { op: "user.add", user };
    });
    return user;
  }

  async modUser(nameIn: string, domainIn: string, changes: UserChanges): Promise<UserRecord> {
    const { name, domain } = this.#userKey(nameIn, domainIn);
    this.#s.requireUser(name, domain);
    const next = settingChanges(changes);
    if (changes.map !== undefined) next.map = this.#s.checkMap(changes.map, name, domain);
    if (changes.password !== undefined) {
      next.passHash = changes.password === "" ? "" : await hashPassword(changes.password);
    }
    let user!: UserRecord;
    await this.#backend.commit(() => {
      // Read in the transaction so concurrent changes to other fields are not lost.
      const current = this.#s.requireUser(name, domain);
      if (next.map !== undefined) this.#s.checkMap(String(next.map), name, domain);
      user = Object.freeze({ ...current, ...next });
      return { op: "user.mod", user };
    });
    return user;
  }

  async delUser(nameIn: string, domainIn: string): Promise<UserRecord> {
    const { name, domain } = this.#userKey(nameIn, domainIn);
    let user!: UserRecord;
    await this.#backend.commit(() => {
      user = this.#s.requireUser(name, domain);
      return { op: "user.del", domain, name };
    });
    return user;
  }

  #userKey(nameIn: string, domainIn: string): { name: string; domain: string } {
    return wrapName(() => ({
      name: normalizeLocalPart(nameIn),
      domain: normalizeDomain(domainIn),
    }));
  }

  // ---- aliases ----

  getAlias(name: string, domain: string): AliasRecord | undefined {
    return this.#s.aliases.get(addressKey(name, domain));
  }

  aliases(domain?: string): AliasRecord[] {
    return [...this.#s.aliases.values()].filter((a) => !domain || a.domain === domain)
      .sort((a, b) => addressKey(a.name, a.domain).localeCompare(addressKey(b.name, b.domain)));
  }

  async addAlias(nameIn: string, domainIn: string, forward: string[]): Promise<AliasRecord> {
    const name = aliasName(nameIn);
    if (forward.length === 0) throw new DirectoryError("FORWARD needs at least one address");
    const targets = Object.freeze(normalizeAddresses(forward));
    let alias!: AliasRecord;
    await this.#backend.commit(() => {
      const domain = this.#s.requireDomain(domainIn);
      this.#s.requireFree(name, domain);
      alias = Object.freeze({ name, domain, forward: targets });
      return { op: "alias.add", alias };
    });
    return alias;
  }

  async delAlias(nameIn: string, domainIn: string): Promise<AliasRecord> {
    const domain = wrapName(() => normalizeDomain(domainIn));
    const name = aliasName(nameIn);
    let alias!: AliasRecord;
    await this.#backend.commit(() => {
      const found = this.#s.aliases.get(addressKey(name, domain));
      if (!found) throw new DirectoryError(`alias ${name}@${domain} does not exist`);
      alias = found;
      return { op: "alias.del", domain, name };
    });
    return alias;
  }

  // ---- mailing lists ----

  getList(name: string, domain: string): ListRecord | undefined {
    return this.#s.lists.get(addressKey(name, domain));
  }

  lists(domain?: string): ListRecord[] {
    return [...this.#s.lists.values()].filter((l) => !domain || l.domain === domain)
      .sort((a, b) => addressKey(a.name, a.domain).localeCompare(addressKey(b.name, b.domain)));
  }

  addList(nameIn: string, domainIn: string, access: ListAccess = "PUBLIC"): Promise<ListRecord> {
    return addList(this.#changes, nameIn, domainIn, access);
  }

  delList(nameIn: string, domainIn: string): Promise<ListRecord> {
    return delList(this.#changes, nameIn, domainIn);
  }

  addMember(nameIn: string, domainIn: string, mailbox: string): Promise<ListRecord> {
    return addMember(this.#changes, nameIn, domainIn, mailbox);
  }

  delMember(nameIn: string, domainIn: string, mailbox: string): Promise<ListRecord> {
    return delMember(this.#changes, nameIn, domainIn, mailbox);
  }

  // ---- resolution for the mail services ----

  /** What `local@domain` is on this server; the catch-all alias answers last. */
  resolveLocal(local: string, domain: string): LocalTarget {
    const exact = this.#s.resolveExact(local, domain);
    if (exact) return exact;
    const catchAll = this.#s.aliases.get(addressKey("*", domain));
    if (catchAll && this.#s.domains.has(domain.toLowerCase())) {
      return { kind: "catchall", alias: catchAll };
    }
    return { kind: "unknown" };
  }

  // ---- deny entries ----

  denies(kind?: DenyKind): readonly DenyEntry[] {
    return this.#s.deny.entries(kind);
  }

  async addDeny(kind: DenyKind, rawValue: string): Promise<DenyEntry> {
    const value = wrapName(() => normalizeDenyValue(kind, rawValue));
    const entry = Object.freeze({ kind, value });
    await this.#backend.commit(() => {
      if (this.#s.deny.has(kind, value)) {
        throw new DirectoryError(`deny ${kind}=${value} already exists`);
      }
      return { op: "deny.add", entry };
    });
    return entry;
  }

  /** Deletes all entries, all of one kind, or one; returns how many went. */
  async delDeny(kind?: DenyKind, rawValue?: string): Promise<number> {
    const value = kind && rawValue !== undefined
      ? wrapName(() => normalizeDenyValue(kind, rawValue))
      : undefined;
    let count = 0;
    await this.#backend.commit(() => {
      let doomed: readonly DenyEntry[];
      if (kind && value !== undefined) {
        if (!this.#s.deny.has(kind, value)) {
          throw new DirectoryError(`deny ${kind}=${value} does not exist`);
        }
        doomed = [{ kind, value }];
      } else {
        doomed = this.#s.deny.entries(kind);
      }
      count = doomed.length;
      return count === 0 ? null : { op: "deny.del", entries: doomed };
    });
    return count;
  }

  /** See DenyList.isDenied. */
  isDenied(kind: DenyKind, value: string): boolean {
    return this.#s.deny.isDenied(kind, value);
  }
}
