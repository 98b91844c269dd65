/**
 * From the recipients' expansions to a delivery plan: envelope groups (the original
 * sender, and one per mailing list), duplicates collapsed, and the per-user limits of
 * SPEC §5 (MAXIN 552 5.3.4, QUOTA 552 5.2.2) applied to every mailbox copy.
 */
import type { ServerContext } from "../server/context.ts";
import type { ListRecord, UserRecord } from "../directory/records.ts";
import { addressKey } from "../directory/names.ts";
import { type Expansion, isPostmasterMailbox, remoteKey } from "./expand.ts";
import { overQuota, tooBigForRecipient, unknownUser } from "./replies.ts";
import type { FailedRecipient, SmtpReply } from "./types.ts";

export interface Group {
  /** List key, or null for the original envelope. */
  key: string | null;
  list: ListRecord | null;
  users: UserRecord[];
  remotes: string[];
  /** Remote addresses (remoteKey) reached by forwarding, with the forwarding local address. */
  forwarders: Map<string, string>;
}

export interface Plan {
  /** The original group first, then lists in the order met. */
  groups: Group[];
  autoReply: UserRecord[];
  notes: string[];
}

/**
 * Merges expansions. A mailbox gets one copy per message (SPEC §4 issue: duplicates
 * collapse): the original envelope wins over a list; a remote address likewise.
 */
export function mergeExpansions(expansions: readonly Expansion[]): Plan {
  const groups = new Map<string | null, Group>();
  const group = (key: string | null, lists: Map<string, ListRecord>) => {
    let g = groups.get(key);
    if (!g) {
      groups.set(
        key,
        g = {
          key,
          list: key ? lists.get(key) ?? null : null,
          users: [],
          remotes: [],
          forwarders: new Map(),
        },
      );
    }
    return g;
  };
  groups.set(null, { key: null, list: null, users: [], remotes: [], forwarders: new Map() });
  const userSeen = new Set<string>();
  const remoteSeen = new Set<string>();
  const autoReply: UserRecord[] = [];
  const autoSeen = new Set<string>();
  const notes: string[] = [];
  // Two passes: original-envelope copies first, so they win the dedupe.
  for (const pass of [true, false]) {
    for (const e of expansions) {
      for (const l of e.locals) {
        if ((l.group === null) !== pass) continue;
        const k = addressKey(l.user.name, l.user.domain);
        if (userSeen.has(k)) continue;
        userSeen.add(k);
        group(l.group, e.lists).users.push(l.user);
      }
      for (const r of e.remotes) {
        if ((r.group === null) !== pass) continue;
        // RFC 5321 §2.4: remote local parts are case-sensitive; only the domain folds.
        const k = remoteKey(r.address);
        if (remoteSeen.has(k)) continue;
        remoteSeen.add(k);
        const g = group(r.group, e.lists);
        g.remotes.push(r.address);
        if (r.via) g.forwarders.set(k, r.via);
      }
    }
  }
  for (const e of expansions) {
    notes.push(...e.notes);
    for (const u of e.autoReply) {
      const k = addressKey(u.name, u.domain);
      if (!autoSeen.has(k)) autoSeen.add(k), autoReply.push(u);
    }
  }
  const list = [...groups.values()].filter((g) =>
    g.key === null || g.users.length || g.remotes.length
  );
  return { groups: list, autoReply, notes };
}

/**
 * SPEC §5 limits for one mailbox copy of `size` octets: MAXIN, then QUOTA (usage
 * plus the message would exceed it). null when the copy may be stored.
 */
export function userLimit(
  ctx: ServerContext,
  user: UserRecord,
  size: number,
): SmtpReply | null | Promise<SmtpReply | null> {
  const address = `${user.name}@${user.domain}`;
  if (user.maxIn > 0 && size > user.maxIn) return tooBigForRecipient(address);
  // SPEC §12: the usage of a user homed on another node is known there (its LMTP checks).
  // Only a quota needs the store (a promise); without one RCPT is answered at once.
  if (user.quota > 0 && ctx.homeOf(user) === "local") {
    return ctx.store.usage(ctx.store.userRoot(user)).then((usage) =>
      usage + size > user.quota ? overQuota(address) : null
    );
  }
  return null;
}

/**
 * Applies the limits with each user's current record (the directory may have
 * changed since RCPT): the plan keeps the copies that may be stored, and the
 * failures are returned with their replies, keyed by the group they belonged to.
 */
export async function applyLimits(
  ctx: ServerContext,
  plan: Plan,
  size: number,
): Promise<{ group: Group; failed: FailedRecipient }[]> {
  const failures: { group: Group; failed: FailedRecipient }[] = [];
  for (const g of plan.groups) {
    const checked = await Promise.all(g.users.map(async (u) => {
      // DirBase/postmaster/ has no directory entry and no limits (SPEC §5).
      if (isPostmasterMailbox(u)) return { user: u, reply: null };
      const current = ctx.directory.getUser(u.name, u.domain);
      const address = `${u.name}@${u.domain}`;
      if (!current) return { user: u, reply: unknownUser(address) };
      return { user: current, reply: await userLimit(ctx, current, size) };
    }));
    g.users = [];
    for (const c of checked) {
      if (c.reply) {
        failures.push({
          group: g,
          failed: { address: `${c.user.name}@${c.user.domain}`, reply: c.reply },
        });
      } else g.users.push(c.user);
    }
  }
  // No autoreply from a mailbox that refused the message.
  const failedKeys = new Set(failures.map((f) => f.failed.address.toLowerCase()));
  plan.autoReply = plan.autoReply.filter((u) => !failedKeys.has(addressKey(u.name, u.domain)));
  return failures;
}

export function planIsEmpty(plan: Plan): boolean {
  return plan.groups.every((g) => g.users.length === 0 && g.remotes.length === 0);
}

/** SPEC §5: the envelope sender of list mail is `<list>-bounces@<domain>`. */
export function groupSender(g: Group, original: string): string {
  return g.list ? `${g.list.name}-bounces@${g.list.domain}` : original;
}
