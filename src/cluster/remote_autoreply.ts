/**
 * The autoresponder's "already answered" record of a user homed on another node (SPEC
 * §5, §12): the node that accepted the message decides whether the recipient answers
 * (direct recipient, not automated mail: src/delivery/route.ts), but the record of whom
 * the user answered within 7 days lives on the home node, one per user for the whole
 * site, so a sender whose mail reaches the user through two nodes gets one answer.
 *
 *   -> AUTOREPLY <address> <sender, URI-encoded>   (the request line)
 *   <- 250 send | 250 answered                     (the claim was made | already answered)
 */
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import { autoReplyStore } from "../delivery/autoreply_store.ts";

const REPLY_MS = 10_000;

/** Claims the right to answer `sender` for `user` on its home node; true: answer. */
export async function claimOnHome(
  ctx: ServerContext,
  user: UserRecord,
  sender: string,
): Promise<boolean> {
  const node = ctx.homeOf(user);
  const reply = await ctx.peers.ask(
    node,
    {
      kind: "autoreply",
      address: `${user.name}@${user.domain}`,
      sender: encodeURIComponent(sender),
    },
    REPLY_MS,
    "AUTOREPLY reply",
  );
  if (reply === "250 send") return true;
  if (reply === "250 answered") return false;
  throw new Error(`node ${node}: ${reply}`);
}

/** The home node's side: the claim in its own durable record. */
export async function serveAutoReplyClaim(
  ctx: ServerContext,
  conn: Connection,
  user: UserRecord,
  encodedSender: string,
): Promise<void> {
  try {
    if (ctx.homeOf(user) !== "local") {
      conn.send(`451 4.3.0 node ${ctx.config.NodeName} is not the home of this user\r\n`);
    } else {
      const sender = decodeURIComponent(encodedSender);
      const claimed = await autoReplyStore(ctx.config.DirBase).claim(user, sender);
      conn.send(claimed ? "250 send\r\n" : "250 answered\r\n");
    }
  } catch (e) {
    conn.send(`451 4.3.0 ${(e as Error).message.replace(/[\r\n]+/g, " ")}\r\n`);
  }
  conn.close();
}
