/**
 * USER DEL and DOMAIN DEL of users homed on another node (SPEC §12): the mail is there,
 * so that node deletes the user (the directory record and then its Maildir, as a local
 * USER DEL does) when this one asks over PortCluster, and its answer is relayed.
 */
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";

const REPLY_MS = 120_000;

/** Asks the home node of `user` to delete it with its mail; resolves to its summary. */
export async function deleteOnHome(ctx: ServerContext, user: UserRecord): Promise<string> {
  const node = ctx.homeOf(user);
  const address = `${user.name}@${user.domain}`;
  const reply = await ctx.peers.ask(node, { kind: "deluser", address }, REPLY_MS, "USER DEL reply");
  if (!reply.startsWith("250 ")) throw new Error(`node ${node}: ${reply.slice(4)}`);
  return reply.slice(4);
}

/** The home node's side: deletes the user, then its Maildir; one reply line. */
export async function serveDelete(ctx: ServerContext, conn: Connection, user: UserRecord) {
  const address = `${user.name}@${user.domain}`;
  if (ctx.homeOf(user) !== "local") {
    conn.send(`451 4.3.0 node ${ctx.config.NodeName} does not hold the mail of ${address}\r\n`);
    conn.close();
    return;
  }
  try {
    const deleted = await ctx.directory.delUser(user.name, user.domain);
    const root = ctx.store.userRoot(deleted);
    try {
      await ctx.store.removeMailbox(root);
      conn.send(`250 user ${address} deleted with its mail on node ${ctx.config.NodeName}\r\n`);
    } catch (e) {
      conn.send(
        `250 user ${address} deleted, but its Maildir ${root} on node ${ctx.config.NodeName}` +
          ` could not be removed: ${(e as Error).message.replace(/[\r\n]+/g, " ")}\r\n`,
      );
    }
  } catch (e) {
    conn.send(`451 4.3.0 ${(e as Error).message.replace(/[\r\n]+/g, " ")}\r\n`);
  }
  conn.close();
}
