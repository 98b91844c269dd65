/** Helpers shared by the directory commands. */
import { join, relative } from "node:path";
import type { ServerContext } from "../../server/context.ts";
import { NameError, normalizeDomain } from "../../directory/names.ts";
import { AdminError } from "../reply.ts";
import type { Params } from "./types.ts";
import type { UserRecord } from "../../directory/records.ts";

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
 * Mail of a user homed on another node is on that node; this one cannot remove it (yet:
 * the cluster hand-off over PortCluster will), so deleting such a user is done there.
 */
export function refuseHomedElsewhere(
  ctx: ServerContext,
  users: UserRecord[],
  what: string,
  fix: string,
): void {
  const elsewhere = new Map<string, number>();
  for (const u of users) {
    const home = ctx.homeOf(u);
    if (home !== "local") elsewhere.set(home, (elsewhere.get(home) ?? 0) + 1);
  }
  if (elsewhere.size === 0) return;
  const list = [...elsewhere].map(([node, n]) => `${node} (${n === 1 ? "1 user" : `${n} users`})`);
  throw new AdminError(
    `${what} has mail on other nodes: ${list.join(", ")}; ${fix}`,
  );
}

/** Count with a noun: "1 user", "3 users", "2 aliases". */
export function plural(n: number, noun: string, nouns = noun + "s"): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
