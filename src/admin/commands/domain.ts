/** DOMAIN ADD / DEL / SHOW (SPEC §4): local virtual domains. */
import { AdminError, kv, ok } from "../reply.ts";
import {
  deleteElsewhere,
  existingDomain,
  plural,
  removeDomainTree,
  requireHomesReachable,
  showMode,
} from "./common.ts";
import type { CommandSpec } from "./types.ts";

export const DOMAIN_COMMANDS: CommandSpec[] = [
  {
    path: "DOMAIN ADD",
    usage: ["DOMAIN ADD NAME=<domain>"],
    summary: "add a local (virtual) domain",
    keys: ["NAME"],
    async run({ ctx, params }) {
      const name = await ctx.directory.addDomain(params.need("NAME", "domain"));
      return ok(`domain ${name} added`);
    },
  },
  {
    path: "DOMAIN DEL",
    usage: ["DOMAIN DEL NAME=<domain>"],
    summary: "delete a domain with its users (and their mail), aliases and lists",
    keys: ["NAME"],
    async run({ ctx, params }) {
      const name = existingDomain(ctx, params.need("NAME", "domain"));
      const counts = ctx.directory.domainCounts(name);
      // SPEC §12: users homed on other nodes are deleted there first (their mail is there).
      const elsewhere = await requireHomesReachable(
        ctx,
        ctx.directory.users(name),
        `domain ${name}`,
      );
      for (const user of elsewhere) await deleteElsewhere(ctx, user);
      // The directory change is one transaction; the mail goes afterwards, so a failure
      // there leaves files behind but never a half-deleted domain.
      const users = await ctx.directory.delDomain(name);
      const failures: string[] = [];
      for (const key of ctx.auth.keys.list(name)) {
        await ctx.auth.keys.remove(name, key.selector).catch((e) =>
          failures.push(`DKIM key ${key.selector}: ${(e as Error).message}`)
        );
      }
      for (const user of users) {
        try {
          await ctx.store.removeMailbox(ctx.store.userRoot(user));
        } catch (e) {
          failures.push(`${user.name}@${user.domain}: ${(e as Error).message}`);
        }
      }
      if (failures.length === 0) {
        await removeDomainTree(ctx, name).catch((e) => failures.push(String(e?.message ?? e)));
      }
      if (failures.length > 0) {
        throw new AdminError(
          `domain ${name} deleted, but some mail could not be removed: ${failures.join("; ")}`,
        );
      }
      const what = [
        plural(counts.users, "user"),
        plural(counts.aliases, "alias", "aliases"),
        plural(counts.lists, "list"),
      ];
      return ok(`domain ${name} deleted with ${what.join(", ")}`);
    },
  },
  {
    path: "DOMAIN SHOW",
    usage: ["DOMAIN SHOW [ALL]", "DOMAIN SHOW NAME=<domain>"],
    summary: "list the domains / one domain with its counts of users, aliases and lists",
    keys: ["NAME"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      if (showMode(params, words) === "all") {
        const lines = ctx.directory.domains().map((d) => {
          const c = ctx.directory.domainCounts(d);
          return `${d} Users=${c.users} Aliases=${c.aliases} Lists=${c.lists}`;
        });
        return ok(plural(lines.length, "domain"), lines);
      }
      const name = existingDomain(ctx, params.need("NAME", "domain"));
      const c = ctx.directory.domainCounts(name);
      return ok(`domain ${name}`, [
        kv("Name", name),
        kv("Users", c.users),
        kv("Aliases", c.aliases),
        kv("Lists", c.lists),
        // SPEC §8: the selector whose key signs the domain's mail (DKIM SHOW for all).
        kv("DKIMSelector", ctx.auth.keys.active(name)?.selector ?? "NONE"),
      ]);
    },
  },
];
