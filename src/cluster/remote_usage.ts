/**
 * Mailbox usage of users homed on other nodes, for USER SHOW (SPEC §4, §12): the
 * Maildir is on the home node, so this node asks it over PortCluster, once per node for
 * all the users wanted:
 *
 *   -> USAGE                      (the request line)
 *   -> <address>                  one per user, then "."
 *   <- <address> <bytes>          one per user ("unknown" when that node no longer holds
 *   <- .                          the mailbox, e.g. after a USER MOVE)
 *
 * A node that cannot be reached, or answers late, makes its users' usage "unknown":
 * USER SHOW never fails or waits long because another node is down.
 */
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import { log } from "../log.ts";
import { lineWithin } from "./peers.ts";

/** How long USER SHOW waits for another node's answer. */
const USAGE_MS = 5_000;

export type Usage = number | "unknown";

const addressOf = (u: Pick<UserRecord, "name" | "domain">) => `${u.name}@${u.domain}`;

/**
 * Usage of every user in `users` by address: local users from this node's store, the
 * others from their home nodes (all nodes asked at once).
 */
export async function usageOf(
  ctx: ServerContext,
  users: readonly UserRecord[],
): Promise<Map<string, Usage>> {
  const out = new Map<string, Usage>();
  const byNode = new Map<string, string[]>();
  for (const u of users) {
    const home = ctx.homeOf(u);
    if (home === "local") out.set(addressOf(u), await ctx.store.usage(ctx.store.userRoot(u)));
    else {
      let list = byNode.get(home);
      if (!list) byNode.set(home, list = []);
      list.push(addressOf(u));
    }
  }
  await Promise.all([...byNode].map(async ([node, addresses]) => {
    const answers = await askNode(ctx, node, addresses).catch((e) => {
      log("cluster").info(`usage from node ${node} not known: ${(e as Error).message}`);
      return new Map<string, Usage>();
    });
    for (const a of addresses) out.set(a, answers.get(a) ?? "unknown");
  }));
  return out;
}

async function askNode(
  ctx: ServerContext,
  node: string,
  addresses: readonly string[],
): Promise<Map<string, Usage>> {
  const link = await ctx.peers.open(node, { kind: "usage" }, USAGE_MS);
  const answers = new Map<string, Usage>();
  const deadline = Date.now() + USAGE_MS;
  try {
    await link.write(addresses.map((a) => `${a}\r\n`).join("") + ".\r\n");
    for (;;) {
      const line = await lineWithin(link, Math.max(1, deadline - Date.now()), "usage reply");
      if (line === ".") return answers;
      const [address, value] = line.split(" ");
      if (value === undefined) continue;
      answers.set(address, /^\d+$/.test(value) ? Number(value) : "unknown");
    }
  } finally {
    link.close();
  }
}

/** The home node's side: one answer line per address asked. */
export async function serveUsage(ctx: ServerContext, conn: Connection): Promise<void> {
  let out = "";
  for (;;) {
    const address = await lineWithin(conn, USAGE_MS, "address");
    if (address === ".") break;
    let usage: Usage = "unknown";
    try {
      const { local, domain } = parseAddress(address);
      const user = ctx.directory.getUser(local, domain);
      if (user && ctx.homeOf(user) === "local") {
        usage = await ctx.store.usage(ctx.store.userRoot(user));
      }
    } catch (e) {
      if (!(e instanceof NameError)) throw e;
    }
    out += `${address.replace(/\s/g, "")} ${usage}\r\n`;
  }
  await conn.write(out + ".\r\n");
  conn.close();
}
