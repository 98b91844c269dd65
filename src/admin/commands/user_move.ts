/**
 * USER MOVE (SPEC §4, §12): the user's Maildir to another node, then the switch of its
 * home. The node that holds the Maildir runs the move (src/cluster/move.ts); asked
 * elsewhere, this node asks that one over PortCluster and relays its answer.
 */
import {
  NameError,
  normalizeDomain,
  normalizeLocalPart,
  normalizeNodeName,
} from "../../directory/names.ts";
import { askHolder } from "../../cluster/move.ts";
import { AdminError, ok } from "../reply.ts";
import type { CommandSpec } from "./types.ts";

export const USER_MOVE_COMMANDS: CommandSpec[] = [
  {
    path: "USER MOVE",
    usage: ["USER MOVE NAME=<user> DOMAIN=<domain> NODE=<node>"],
    summary: "move a user's mail to another node (several machines), then serve it there",
    keys: ["NAME", "DOMAIN", "NODE"],
    async run({ ctx, params }) {
      let name: string, domain: string, node: string;
      try {
        name = normalizeLocalPart(params.need("NAME", "user"));
        domain = normalizeDomain(params.need("DOMAIN", "domain"));
        node = normalizeNodeName(params.need("NODE", "node"));
      } catch (e) {
        if (e instanceof NameError) throw new AdminError(e.message);
        throw e;
      }
      const user = ctx.directory.getUser(name, domain);
      if (!user) throw new AdminError(`user ${name}@${domain} does not exist`);
      const nodes = Object.keys(ctx.config.Nodes);
      if (!nodes.includes(node)) {
        throw new AdminError(
          `NODE=${node} is not among Nodes (${nodes.join(", ") || "none: a single machine"})`,
        );
      }
      try {
        if (await ctx.moves.holds(ctx, user)) return ok(await ctx.moves.move(ctx, user, node));
        if (user.node === node) return ok(`user ${name}@${domain} is already on node ${node}`);
        const summary = await askHolder(ctx, user.node, user, node);
        // The holder switched the home: visible here too (else within seconds).
        await ctx.directory.catchUp().catch(() => {});
        return ok(summary);
      } catch (e) {
        throw new AdminError(
          `USER MOVE of ${name}@${domain} to ${node} did not finish: ${(e as Error).message};` +
            " nothing was lost: run it again",
        );
      }
    },
  },
];
