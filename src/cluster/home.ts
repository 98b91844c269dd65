/**
 * Home nodes (SPEC §12): each user's Maildir lives on one node, named in the user's
 * record (`node`). This is the one question delivery and login code asks before it
 * delivers or serves a mailbox: is the user homed on this node, or on which other one?
 *
 * Local are: every user of a single machine (no NodeName, or no other Nodes), users
 * without a node (made before SPEC §12) and users of this node. Otherwise the answer is
 * the node's name, which may be missing from `Nodes` (a node taken out of the site):
 * the caller treats that as a node it cannot reach.
 */
import type { Config } from "../config/schema.ts";
import type { UserRecord } from "../directory/records.ts";

/** "local" when `user`'s Maildir is on this node, else the name of the node that holds it. */
export function homeOf(
  user: Pick<UserRecord, "node">,
  self: Pick<Config, "NodeName" | "Nodes">,
): "local" | string {
  if (self.NodeName === "" || user.node === "" || user.node === self.NodeName) return "local";
  if (Object.keys(self.Nodes).length === 0) return "local";
  return user.node;
}
