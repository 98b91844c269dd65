/** Helpers shared by the directory commands. */
import { join, relative } from "node:path";
import type { ServerContext } from "../../server/context.ts";
import { NameError, normalizeDomain } from "../../directory/names.ts";
import { AdminError } from "../reply.ts";
import type { Params } from "./types.ts";
import type { UserRecord } from "../../directory/records.ts";
import { deleteOnHome } from "../../cluster/remote_delete.ts";

/** A domain name written by the admin, normalized, that must exist. */
export function existingDomain(ctx: ServerContext, text: string): string {
  let domain: string;
  try {
    domain = normalizeDomain(text);
  } catch (e) {
    if (e instanceof NameError) throw new AdminError(e.message);
    throw e;
  }
  if (!ctx.directory.isLocalDomain(domain)) throw new AdminError(`domain ${domain} does not exist`);
  return domain;
}

/** The optional DOMAIN= filter of the SHOW ALL commands. */
export function domainFilter(ctx: ServerContext, params: Params): string | undefined {
  const text = params.get("DOMAIN");
  return text === undefined ? undefined : existingDomain(ctx, text);
}

/**
 * The SHOW commands take the word ALL or NAME= (SPEC §4); says which. Neither means ALL
 * (what a person at a telnet prompt types first); both is refused.
 */
export function showMode(params: Params, words: string[], one = "NAME"): "all" | "one" {
  if (words.includes("ALL") && params.has(one)) {
    throw new AdminError(`${params.command} takes either ALL or ${one}=, not both`);
  }
  return params.has(one) ? "one" : "all";
}

/** Is `path` inside `dir` (or equal to it)? */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
}

/**
 * After DOMAIN DEL removed the users' Maildirs: removes DirBase/domains/<domain> (the
 * empty hash directories), unless another domain's user was given a DIR inside it.
 */
export async function removeDomainTree(ctx: ServerContext, domain: string): Promise<void> {
  const tree = join(ctx.store.dirBase, "domains", domain);
  const shared = ctx.directory.users().some((u) => isInside(ctx.store.userRoot(u), tree));
  if (shared) return;
  await Deno.remove(tree, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/**
 * SPEC §12: a user homed on another node is deleted by that node (it holds the mail),
 * asked over PortCluster; the summary of its answer, or an AdminError that says nothing
 * was deleted when it cannot be reached.
 */
export async function deleteElsewhere(ctx: ServerContext, user: UserRecord): Promise<string> {
  try {
    const summary = await deleteOnHome(ctx, user);
    // The home node deleted the record: visible here too before our +OK (SPEC §4).
    await ctx.directory.catchUp().catch(() => {}); // else it arrives within seconds
    return summary;
  } catch (e) {
    throw new AdminError(
      `user ${user.name}@${user.domain} was not deleted: its mail is on node ${user.node}, ` +
        `which did not do it (${(e as Error).message}); try again when it is reachable`,
    );
  }
}

/**
 * DOMAIN DEL: the users homed on other nodes, which must be reachable before anything
 * is deleted (each deletes its users' mail).
 */
export async function requireHomesReachable(
  ctx: ServerContext,
  users: UserRecord[],
  what: string,
): Promise<UserRecord[]> {
  const elsewhere = users.filter((u) => ctx.homeOf(u) !== "local");
  const nodes = [...new Set(elsewhere.map((u) => ctx.homeOf(u)))];
  const down: string[] = [];
  for (const node of nodes) if (!(await ctx.peers.reachable(node))) down.push(node);
  if (down.length > 0) {
    throw new AdminError(
      `${what} was not deleted: it has mail on node(s) ${down.join(", ")}, which cannot be ` +
        "reached now; try again when they are",
    );
  }
  return elsewhere;
}

/** Count with a noun: "1 user", "3 users", "2 aliases". */
export function plural(n: number, noun: string, nouns = noun + "s"): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
