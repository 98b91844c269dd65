/**
 * Recipient expansion (SPEC §5): a local address becomes the mailboxes and remote
 * addresses it stands for, through aliases, the catch-all, FORWARD (+KEEP), COPY and
 * mailing lists, with loop detection and limits. Pure over a directory lookup, so it
 * is tested without a server.
 *
 * Rules (sendmail/Postfix tradition, written down in docs/delivery.md):
 * - A user without FORWARD, or with KEEP=YES, gets a mailbox copy.
 * - An address met again on its own expansion path is a loop: a user there gets a
 *   mailbox copy (the classic "alias: itself" rule), an alias or list stops.
 * - Each list starts a group: its members get the message with the list's bounce
 *   address as envelope sender and its List-* headers.
 * - Expanded addresses under DOMAINOUT/MAILBOXOUT deny entries are dropped.
 * - postmaster@ a local domain always reaches someone (SPEC §5, RFC 5321 §4.5.1): the
 *   domain's user, alias or list `postmaster`, else the key `Postmaster`, else the Maildir
 *   `DirBase/postmaster/` (POSTMASTER_MAILBOX). A catch-all does not count.
 */
import type { DenyKind, ListRecord, LocalTarget, UserRecord } from "../directory/records.ts";
import { addressKey } from "../directory/names.ts";
import { newUserRecord } from "../directory/directory_input.ts";

/**
 * SPEC §5: the Maildir `DirBase/postmaster/` that takes postmaster@ mail when no address
 * and no `Postmaster` key does. It is delivered to like a user's mailbox (DIR relative to
 * DirBase, created on first use, the store's fsync'd delivery) but is no directory entry:
 * no limits, no autoreply, no login. Recognised by identity (isPostmasterMailbox).
 */
export const POSTMASTER_MAILBOX: UserRecord = newUserRecord(
  "postmaster",
  "",
  "postmaster",
  "",
  "",
  { name: "postmaster", domain: "" },
);

export function isPostmasterMailbox(user: UserRecord): boolean {
  return user === POSTMASTER_MAILBOX;
}

/** The part of the Directory that expansion reads. */
export interface DirectoryLookup {
  isLocalDomain(domain: string): boolean;
  resolveLocal(local: string, domain: string): LocalTarget;
  getList(name: string, domain: string): ListRecord | undefined;
  isDenied(kind: DenyKind, value: string): boolean;
}

/** Max nesting of aliases, forwards and lists (Postfix's default recursion is 1000; 20 is plenty). */
export const MAX_DEPTH = 20;
/** Max targets one recipient may expand to (guards against fan-out explosions). */
export const MAX_TARGETS = 10_000;

export interface LocalCopy {
  user: UserRecord;
  /** List group key (`list@domain`), or null for the original envelope. */
  group: string | null;
}

export interface RemoteCopy {
  address: string;
  group: string | null;
  /** The local address (user, alias, catch-all) whose forwarding sends it here; none for relay. */
  via?: string;
}

export interface Expansion {
  locals: LocalCopy[];
  remotes: RemoteCopy[];
  /** Lists met, by group key. */
  lists: Map<string, ListRecord>;
  /** Users reached directly, by alias or FORWARD (not via a list or COPY): autoresponder candidates. */
  autoReply: UserRecord[];
  /** What was dropped and why, for the log. */
  notes: string[];
  loop: boolean;
  denied: boolean;
  unknown: boolean;
}

export function splitAddress(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf("@");
  return at < 0
    ? { local: address, domain: "" }
    : { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase() };
}

/**
 * The identity of a remote address: RFC 5321 §2.4 local parts are case-sensitive, only
 * the domain folds. (Local addresses are keyed with addressKey, case-insensitive.)
 */
export function remoteKey(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? address : `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
}

export function listKey(list: Pick<ListRecord, "name" | "domain">): string {
  return addressKey(list.name, list.domain);
}

export function isListMember(list: ListRecord, address: string): boolean {
  const key = address.toLowerCase();
  return list.members.some((m) => m.toLowerCase() === key);
}

export interface ExpandOptions {
  /** The envelope sender, for lists with ACCESS=MEMBERS. */
  sender: string;
  /**
   * The `Postmaster` key (SPEC §5): where postmaster@ a local domain without a user, alias
   * or list of that name goes; "" or absent: POSTMASTER_MAILBOX.
   */
  postmaster?: string;
  maxDepth?: number;
  maxTargets?: number;
}

/** Expands one address (the RCPT address, a COPY target, a submitted recipient). */
export function expand(dir: DirectoryLookup, address: string, opts: ExpandOptions): Expansion {
  const out: Expansion = {
    locals: [],
    remotes: [],
    lists: new Map(),
    autoReply: [],
    notes: [],
    loop: false,
    denied: false,
    unknown: false,
  };
  const maxDepth = opts.maxDepth ?? MAX_DEPTH;
  const maxTargets = opts.maxTargets ?? MAX_TARGETS;
  const seen = new Set<string>(); // group|key: each node expanded once per group
  const localSeen = new Set<string>();
  const remoteSeen = new Set<string>();
  const path: string[] = [];
  // Lists enclosing the current node, so "list A is a member of list B" may post to B.
  const listPath: ListRecord[] = [];
  let targets = 0;

  const addLocal = (user: UserRecord, group: string | null) => {
    const k = `${group}|${addressKey(user.name, user.domain)}`;
    if (localSeen.has(k)) return;
    if (++targets > maxTargets) return void out.notes.push(`expansion limit ${maxTargets} reached`);
    localSeen.add(k);
    out.locals.push({ user, group });
  };
  const addRemote = (addr: string, group: string | null, via: string | undefined) => {
    const k = `${group}|${remoteKey(addr)}`;
    if (remoteSeen.has(k)) return;
    if (++targets > maxTargets) return void out.notes.push(`expansion limit ${maxTargets} reached`);
    remoteSeen.add(k);
    out.remotes.push(via ? { address: addr, group, via } : { address: addr, group });
  };

  // `via`: the local address whose FORWARD, COPY or alias led here (SPEC §8 SRS domain).
  const visit = (
    addr: string,
    group: string | null,
    depth: number,
    viaCopy: boolean,
    via?: string,
  ): void => {
    const { local, domain } = splitAddress(addr);
    if (depth > 0 && (dir.isDenied("DOMAINOUT", domain) || dir.isDenied("MAILBOXOUT", addr))) {
      out.denied = true;
      return void out.notes.push(`${addr} dropped (deny entry)`);
    }
    if (!dir.isLocalDomain(domain)) return addRemote(addr, group, via);
    if (depth > maxDepth) {
      out.loop = true;
      return void out.notes.push(`${addr} dropped (nesting deeper than ${maxDepth})`);
    }
    let target = dir.resolveLocal(local, domain);
    // A list's bounce address belongs to the list even when a catch-all exists.
    if (target.kind === "catchall" && listOfBounceAddress(dir, local, domain)) {
      target = { kind: "unknown" };
    }
    if (isPostmasterLocalPart(local) && (target.kind === "unknown" || target.kind === "catchall")) {
      return visitPostmaster(domain, group, depth, viaCopy);
    }
    const key = target.kind === "catchall" ? addressKey("*", domain) : addressKey(local, domain);
    if (path.includes(key)) {
      if (target.kind === "user") return addLocal(target.user, group);
      out.loop = true;
      return void out.notes.push(`${addr} dropped (loop: ${[...path, key].join(" -> ")})`);
    }
    const seenKey = `${group}|${key}`;
    if (seen.has(seenKey)) return;
    seen.add(seenKey);
    path.push(key);
    try {
      switch (target.kind) {
        case "user": {
          const user = target.user;
          if (!viaCopy && group === null && user.autoReply) out.autoReply.push(user);
          if (user.forward.length === 0 || user.keep) addLocal(user, group);
          const self = `${user.name}@${user.domain}`;
          for (const f of user.forward) visit(f, group, depth + 1, viaCopy, self);
          if (user.copy) visit(user.copy, group, depth + 1, true, self);
          break;
        }
        case "alias":
        case "catchall":
          for (const f of target.alias.forward) {
            visit(f, group, depth + 1, viaCopy, `${local}@${domain}`);
          }
          break;
        case "list": {
          const list = target.list;
          if (list.access === "MEMBERS" && !mayPost(list, opts.sender, listPath)) {
            out.denied = true;
            out.notes.push(`${addr} dropped (list for members only)`);
            break;
          }
          const g = listKey(list);
          out.lists.set(g, list);
          listPath.push(list);
          for (const m of list.members) visit(m, g, depth + 1, false);
          listPath.pop();
          break;
        }
        case "unknown":
          visitBounceAddress(local, domain, group, depth);
          break;
      }
    } finally {
      path.pop();
    }
  };

  // SPEC §5: postmaster@domain without such an address goes to the `Postmaster` key when
  // that leads somewhere (a typo, a deleted user, a deny entry or a loop would lose the mail),
  // else into POSTMASTER_MAILBOX.
  let followingKey = false;
  const visitPostmaster = (
    domain: string,
    group: string | null,
    depth: number,
    copy: boolean,
  ): void => {
    const key = (opts.postmaster ?? "").trim();
    if (key !== "") {
      // Met again while following the key (it names postmaster@ itself, or leads there):
      // the Maildir, not the key once more.
      const { domain: keyDomain } = splitAddress(key);
      const denied = dir.isDenied("DOMAINOUT", keyDomain) || dir.isDenied("MAILBOXOUT", key);
      const probe = denied || followingKey ? null : expand(dir, key, { ...opts, postmaster: "" });
      if (probe && !isEmpty(probe) && !probe.loop) {
        followingKey = true;
        try {
          visit(key, group, depth + 1, copy, `postmaster@${domain}`);
        } finally {
          followingKey = false;
        }
        return;
      }
      out.notes.push(
        `Postmaster ${key} leads nowhere; postmaster@${domain} kept in DirBase/postmaster/`,
      );
    }
    addLocal(POSTMASTER_MAILBOX, group);
  };

  // `<list>-bounces@domain` (SPEC §5): bounces to a list go to the domain's postmaster.
  const visitBounceAddress = (
    local: string,
    domain: string,
    group: string | null,
    depth: number,
  ) => {
    const list = listOfBounceAddress(dir, local, domain);
    if (!list) {
      out.unknown = true;
      return void out.notes.push(`${local}@${domain} dropped (no such user)`);
    }
    visit(`postmaster@${domain}`, group, depth + 1, false);
  };

  visit(address, null, 0, false);
  return out;
}

/** The list whose bounce address `<list>-bounces@domain` this is, if any. */
function listOfBounceAddress(
  dir: DirectoryLookup,
  local: string,
  domain: string,
): ListRecord | undefined {
  const m = /^(.+)-bounces$/i.exec(local);
  return m ? dir.getList(m[1].toLowerCase(), domain) : undefined;
}

function mayPost(list: ListRecord, sender: string, enclosing: readonly ListRecord[]): boolean {
  if (sender && isListMember(list, sender)) return true;
  return enclosing.some((outer) => isListMember(list, `${outer.name}@${outer.domain}`));
}

/** RFC 5321 §4.5.1: "postmaster" in any case. */
export function isPostmasterLocalPart(local: string): boolean {
  return local.toLowerCase() === "postmaster";
}

/** True when the expansion leaves nothing to deliver. */
export function isEmpty(e: Expansion): boolean {
  return e.locals.length === 0 && e.remotes.length === 0;
}
