/** USER ADD / MOD / DEL / SHOW (SPEC §4, §5): mailbox accounts. */
import { dirname, join } from "node:path";
import type { ServerContext } from "../../server/context.ts";
import { normalizeUserDir, type UserChanges } from "../../directory/directory.ts";
import {
  NameError,
  normalizeDomain,
  normalizeLocalPart,
  normalizeNodeName,
} from "../../directory/names.ts";
import type { UserRecord } from "../../directory/records.ts";
import { AdminError, kv, ok } from "../reply.ts";
import { isNone, onOff, parseAddressList, parseSize, parseSwitch, yesNo } from "../values.ts";
import { deleteElsewhere, domainFilter, isInside, plural, showMode } from "./common.ts";
import { usageOf } from "../../cluster/remote_usage.ts";
import type { CommandSpec, Params } from "./types.ts";

const MOD_KEYS = [
  "PASS",
  "QUOTA",
  "MAXIN",
  "MAXOUT",
  "FORWARD",
  "KEEP",
  "COPY",
  "AUTOREPLY",
  "AUTOREPLYSUBJECT",
  "AUTOREPLYTEXT",
  "MAP",
];

/**
 * Top-level names in DirBase that hold server state; DIR= may not start with them (a user's
 * Maildir there would expose DKIM keys, the shared postmaster Maildir, spool files...).
 */
const RESERVED_TOP = [
  "queue",
  "spool",
  "autoreply",
  "admin.passwd",
  "directory.sqlite",
  "dkim",
  "incoming",
  "journal",
  "moves",
  "postmaster",
  "srs.secret",
  "tmppool",
];

/** NAME= and DOMAIN= of one user; NAME=user@domain alone is accepted too. */
function userParams(params: Params): { name: string; domain: string } {
  const name = params.need("NAME", "user");
  if (!params.has("DOMAIN") && name.includes("@")) {
    const at = name.lastIndexOf("@");
    return { name: name.slice(0, at), domain: name.slice(at + 1) };
  }
  return { name, domain: params.need("DOMAIN", "domain") };
}

function requireUser(ctx: ServerContext, params: Params): UserRecord {
  const { name, domain } = userParams(params);
  let key: { name: string; domain: string };
  try {
    key = { name: normalizeLocalPart(name), domain: normalizeDomain(domain) };
  } catch (e) {
    if (e instanceof NameError) throw new AdminError(e.message);
    throw e;
  }
  const user = ctx.directory.getUser(key.name, key.domain);
  if (!user) throw new AdminError(`user ${key.name}@${key.domain} does not exist`);
  return user;
}

/**
 * DIR= (SPEC §5) stays inside DirBase (the directory checks that); here it must also not
 * overlap another user's mailbox, swallow the hashed domain trees or the server's state,
 * because USER DEL removes the whole directory.
 */
function checkDirFree(ctx: ServerContext, name: string, domain: string, dir: string): void {
  const clean = normalizeUserDir(dir);
  const first = clean.split("/")[0];
  if (RESERVED_TOP.some((r) => first === r || first.startsWith(r + "-"))) {
    throw new AdminError(`DIR=${dir}: ${first} holds server state in DirBase`);
  }
  const root = ctx.store.userRoot({ name, domain, dir: clean });
  const domains = join(ctx.store.dirBase, "domains");
  if (isInside(domains, root) || dirname(root) === domains) {
    throw new AdminError(`DIR=${dir} would contain the mailboxes of whole domains`);
  }
  // The hashed tree belongs to hashed mailboxes: a user added later could get this very path.
  if (isInside(root, domains)) {
    throw new AdminError(`DIR=${dir} is inside domains/, the tree of hashed mailboxes`);
  }
  for (const other of ctx.directory.users()) {
    const otherRoot = ctx.store.userRoot(other);
    if (isInside(root, otherRoot) || isInside(otherRoot, root)) {
      throw new AdminError(`DIR=${dir} overlaps the mailbox of ${other.name}@${other.domain}`);
    }
  }
}

/**
 * NODE= of USER ADD (SPEC §12): a node of `Nodes`; by default this node. A single machine
 * (no Nodes) has only itself.
 */
function nodeParam(ctx: ServerContext, params: Params): string {
  const text = params.get("NODE");
  if (text === undefined) return ctx.config.NodeName;
  let node: string;
  try {
    node = normalizeNodeName(text);
  } catch (e) {
    if (e instanceof NameError) throw new AdminError(`NODE=${text}: ${e.message}`);
    throw e;
  }
  const nodes = Object.keys(ctx.config.Nodes);
  if (nodes.length === 0 && node !== ctx.config.NodeName) {
    throw new AdminError(
      `NODE=${text}: this server has no other nodes (the configuration key Nodes is empty)`,
    );
  }
  if (nodes.length > 0 && !nodes.includes(node)) {
    throw new AdminError(
      `NODE=${text} is not a node of this site; Nodes lists ${nodes.join(", ")}`,
    );
  }
  return node;
}

function sizeParam(params: Params, key: string): number | undefined {
  const text = params.get(key);
  return text === undefined ? undefined : parseSize(key, text);
}

/** Every USER MOD value, parsed and checked before anything changes. */
function userChanges(params: Params): UserChanges {
  const changes: UserChanges = {};
  const get = (k: string) => params.get(k);
  if (get("PASS") !== undefined) changes.password = get("PASS");
  changes.quota = sizeParam(params, "QUOTA");
  changes.maxIn = sizeParam(params, "MAXIN");
  changes.maxOut = sizeParam(params, "MAXOUT");
  if (get("FORWARD") !== undefined) changes.forward = parseAddressList("FORWARD", get("FORWARD")!);
  if (get("KEEP") !== undefined) changes.keep = parseSwitch("KEEP", get("KEEP")!, "YES|NO");
  const copy = get("COPY");
  if (copy !== undefined) {
    if (copy.includes(",")) throw new AdminError(`COPY=${copy}: COPY takes one address`);
    changes.copy = isNone(copy) ? "" : copy.trim();
  }
  if (get("AUTOREPLY") !== undefined) {
    changes.autoReply = parseSwitch("AUTOREPLY", get("AUTOREPLY")!, "ON|OFF");
  }
  if (get("AUTOREPLYSUBJECT") !== undefined) changes.autoReplySubject = get("AUTOREPLYSUBJECT");
  if (get("AUTOREPLYTEXT") !== undefined) changes.autoReplyText = get("AUTOREPLYTEXT");
  const map = get("MAP");
  if (map !== undefined) changes.map = isNone(map) ? "" : map;
  for (const k of Object.keys(changes) as (keyof UserChanges)[]) {
    if (changes[k] === undefined) delete changes[k];
  }
  return changes;
}

async function userDetails(ctx: ServerContext, user: UserRecord): Promise<string[]> {
  const root = ctx.store.userRoot(user);
  // A user homed on another node has its Maildir there (SPEC §12): that node is asked.
  const usage = (await usageOf(ctx, [user])).get(`${user.name}@${user.domain}`) ?? "unknown";
  return [
    kv("Name", user.name),
    kv("Domain", user.domain),
    kv("Address", `${user.name}@${user.domain}`),
    kv("Dir", root),
    kv("Quota", user.quota),
    kv("Usage", usage),
    kv("MaxIn", user.maxIn),
    kv("MaxOut", user.maxOut),
    kv("Forward", user.forward.length ? user.forward.join(",") : "NONE"),
    kv("Keep", yesNo(user.keep)),
    kv("Copy", user.copy || "NONE"),
    kv("AutoReply", onOff(user.autoReply)),
    kv("AutoReplySubject", user.autoReplySubject),
    kv("AutoReplyText", user.autoReplyText),
    kv("Map", user.map || "NONE"),
    kv("Password", user.passHash ? "SET" : "NONE"),
    kv("Node", user.node),
  ];
}

export const USER_COMMANDS: CommandSpec[] = [
  {
    path: "USER ADD",
    usage: [
      "USER ADD NAME=<user> DOMAIN=<domain> [DIR=<dir>] [PASS=<password>] [QUOTA=<size>]" +
      " [MAXIN=<size>] [MAXOUT=<size>]",
      "    [NODE=<node>]",
    ],
    summary: "add a user and create its Maildir; DIR (relative to DirBase) overrides the hashed" +
      " location; NODE: the node that holds its mail (default: this one)",
    keys: ["NAME", "DOMAIN", "DIR", "PASS", "QUOTA", "MAXIN", "MAXOUT", "NODE"],
    async run({ ctx, params }) {
      const { name, domain } = userParams(params);
      const sizes = {
        quota: sizeParam(params, "QUOTA"),
        maxIn: sizeParam(params, "MAXIN"),
        maxOut: sizeParam(params, "MAXOUT"),
      };
      const dir = params.get("DIR");
      if (dir !== undefined) checkDirFree(ctx, name, domain, dir);
      const node = nodeParam(ctx, params);
      const user = await ctx.directory.addUser({
        name,
        domain,
        dir,
        password: params.get("PASS") || undefined,
        node,
        ...sizes,
      });
      const root = ctx.store.userRoot(user);
      // The home node makes the Maildir at the first delivery or login there.
      if (ctx.homeOf(user) !== "local") {
        return ok(`user ${user.name}@${user.domain} added, homed on node ${user.node}`);
      }
      try {
        await ctx.store.ensureMailbox(root);
      } catch (e) {
        // Nothing half-applied: without its Maildir the user is taken back out.
        await ctx.directory.delUser(user.name, user.domain);
        throw new AdminError(`cannot create the Maildir ${root}: ${(e as Error).message}`);
      }
      return ok(`user ${user.name}@${user.domain} added, Maildir ${root}`);
    },
  },
  {
    path: "USER MOD",
    usage: [
      "USER MOD NAME=<user> DOMAIN=<domain> [PASS=<password>] [QUOTA=<size>] [MAXIN=<size>]" +
      " [MAXOUT=<size>]",
      "    [FORWARD=<addr>[,<addr>...]|NONE] [KEEP=YES|NO] [COPY=<addr>|NONE] [AUTOREPLY=ON|OFF]",
      '    [AUTOREPLYSUBJECT="..."] [AUTOREPLYTEXT="..."] [MAP=<login>|NONE]',
    ],
    summary: "change a user's settings (all given values at once, or none)",
    keys: ["NAME", "DOMAIN", ...MOD_KEYS],
    async run({ ctx, params }) {
      const user = requireUser(ctx, params);
      const changes = userChanges(params);
      if (Object.keys(changes).length === 0) {
        throw new AdminError(`USER MOD needs at least one of ${MOD_KEYS.join(", ")}`);
      }
      await ctx.directory.modUser(user.name, user.domain, changes);
      const changed = MOD_KEYS.filter((k) => params.has(k));
      return ok(`user ${user.name}@${user.domain} changed: ${changed.join(", ")}`);
    },
  },
  {
    path: "USER DEL",
    usage: ["USER DEL NAME=<user> DOMAIN=<domain>"],
    summary: "delete a user and the mail in its directory",
    keys: ["NAME", "DOMAIN"],
    async run({ ctx, params }) {
      const found = requireUser(ctx, params);
      // SPEC §12: the node that holds the mail deletes the user, asked over PortCluster.
      if (ctx.homeOf(found) !== "local") return ok(await deleteElsewhere(ctx, found));
      const user = await ctx.directory.delUser(found.name, found.domain);
      const root = ctx.store.userRoot(user);
      try {
        await ctx.store.removeMailbox(root);
      } catch (e) {
        throw new AdminError(
          `user ${user.name}@${user.domain} deleted, but its Maildir ${root} could not be` +
            ` removed: ${(e as Error).message}`,
        );
      }
      return ok(`user ${user.name}@${user.domain} deleted with its mail`);
    },
  },
  {
    path: "USER SHOW",
    usage: ["USER SHOW [ALL] [DOMAIN=<domain>]", "USER SHOW NAME=<user> DOMAIN=<domain>"],
    summary: "list users (address, quota, usage) / one user's settings and mailbox usage",
    keys: ["NAME", "DOMAIN"],
    words: ["ALL"],
    async run({ ctx, params, words }) {
      if (showMode(params, words) === "one") {
        const user = requireUser(ctx, params);
        return ok(`user ${user.name}@${user.domain}`, await userDetails(ctx, user));
      }
      const users = ctx.directory.users(domainFilter(ctx, params));
      const usages = await usageOf(ctx, users);
      const lines: string[] = [];
      for (const u of users) {
        const usage = usages.get(`${u.name}@${u.domain}`) ?? "unknown";
        lines.push(
          `${u.name}@${u.domain} Quota=${u.quota} Usage=${usage} MaxIn=${u.maxIn}` +
            ` MaxOut=${u.maxOut} Map=${u.map || "NONE"}${u.node ? ` Node=${u.node}` : ""}`,
        );
      }
      return ok(plural(lines.length, "user"), lines);
    },
  },
];
