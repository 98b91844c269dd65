/**
 * Home nodes (SPEC §12): each user's Maildir lives on one node, named in the user's
 * record (`node`). This is the one question delivery and login code asks before it
 * delivers or serves a mailbox: is the user homed on this node, or on which other one?
 *
 * A user whose node is "" (every user of a single machine, and users made before SPEC
 * §12) is homed wherever it is served; so is every user on a node whose NodeName is "".
 */
import type { UserRecord } from "../directory/records.ts";

/** "local" when `user`'s Maildir is on this node (named `nodeName`), else its node's name. */
export function homeOf(user: Pick<UserRecord, "node">, nodeName: string): "local" | string {
  if (nodeName === "" || user.node === "" || user.node === nodeName) return "local";
  return user.node;
}
