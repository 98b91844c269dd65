/** ALIAS and LIST commands (SPEC §4, §5): forwarding addresses and mailing lists. */
import type { ListAccess } from "../../directory/records.ts";
import { AdminError, kv, ok } from "../reply.ts";
import { parseAddressList } from "../values.ts";
import { domainFilter, plural, showMode } from "./common.ts";
import type { CommandSpec } from "./types.ts";

function parseAccess(text: string | undefined): ListAccess {
  if (text === undefined) return "PUBLIC";
  const access = text.trim().toUpperCase();
  if (access !== "PUBLIC" && access !== "MEMBERS") {
    throw new AdminError(`ACCESS=${text}: expected PUBLIC or MEMBERS`);
  }
  return access;
}

export const ALIAS_COMMANDS: CommandSpec[] = [
  {
    path: "ALIAS ADD",
    usage: ["ALIAS ADD NAME=<name> DOMAIN=<domain> FORWARD=<addr>[,<addr>...]"],
    summary: "an address that forwards to others; NAME=* is the domain's catch-all",
    keys: ["NAME", "DOMAIN", "FORWARD"],
    async run({ ctx, params }) {
      const forward = parseAddressList("FORWARD", params.need("FORWARD", "addr"));
      if (forward.length === 0) throw new AdminError("ALIAS ADD needs FORWARD=<addr>, not NONE");
      const alias = await ctx.directory.addAlias(
        params.need("NAME", "name"),
        params.need("DOMAIN", "domain"),
        forward,
      );
      return ok(`alias ${alias.name}@${alias.domain} added -> ${alias.forward.join(",")}`);
    },
  },
  {
    path: "ALIAS DEL",
    usage: ["ALIAS DEL NAME=<name> DOMAIN=<domain>"],
    summary: "delete an alias",
    keys: ["NAME", "DOMAIN"],
    async run({ ctx, params }) {
      const alias = await ctx.directory.delAlias(
        params.need("NAME", "name"),
        params.need("DOMAIN", "domain"),
      );
      return ok(`alias ${alias.name}@${alias.domain} deleted`);
    },
  },
  {
    path: "ALIAS SHOW",
    usage: ["ALIAS SHOW [ALL] [DOMAIN=<domain>]", "ALIAS SHOW NAME=<name> DOMAIN=<domain>"],
    summary: "list aliases with their targets / one alias",
    keys: ["NAME", "DOMAIN"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      if (showMode(params, words) === "all") {
        const lines = ctx.directory.aliases(domainFilter(ctx, params)).map((a) =>
          `${a.name}@${a.domain} Forward=${a.forward.join(",")}`
        );
        return ok(plural(lines.length, "alias", "aliases"), lines);
      }
      const name = params.need("NAME", "name").trim().toLowerCase();
      const domain = domainFilter(ctx, params) ?? params.need("DOMAIN", "domain");
      const alias = ctx.directory.getAlias(name, domain);
      if (!alias) throw new AdminError(`alias ${name}@${domain} does not exist`);
      return ok(`alias ${alias.name}@${alias.domain}`, [
        kv("Name", alias.name),
        kv("Domain", alias.domain),
        kv("Forward", alias.forward.join(",")),
      ]);
    },
  },
];

export const LIST_COMMANDS: CommandSpec[] = [
  {
    path: "LIST ADD",
    usage: ["LIST ADD NAME=<list> DOMAIN=<domain> [ACCESS=PUBLIC|MEMBERS]"],
    summary: "add a mailing list; MEMBERS: only members may post",
    keys: ["NAME", "DOMAIN", "ACCESS"],
    async run({ ctx, params }) {
      const access = parseAccess(params.get("ACCESS"));
      const list = await ctx.directory.addList(
        params.need("NAME", "list"),
        params.need("DOMAIN", "domain"),
        access,
      );
      return ok(`list ${list.name}@${list.domain} added (ACCESS=${list.access})`);
    },
  },
  {
    path: "LIST DEL",
    usage: ["LIST DEL NAME=<list> DOMAIN=<domain>"],
    summary: "delete a mailing list with its members",
    keys: ["NAME", "DOMAIN"],
    async run({ ctx, params }) {
      const list = await ctx.directory.delList(
        params.need("NAME", "list"),
        params.need("DOMAIN", "domain"),
      );
      return ok(`list ${list.name}@${list.domain} deleted`);
    },
  },
  {
    path: "LIST MEMBER ADD",
    usage: ["LIST MEMBER ADD NAME=<list> DOMAIN=<domain> MAILBOX=<addr>"],
    summary: "add a member to a list",
    keys: ["NAME", "DOMAIN", "MAILBOX"],
    async run({ ctx, params }) {
      const mailbox = params.need("MAILBOX", "addr");
      const list = await ctx.directory.addMember(
        params.need("NAME", "list"),
        params.need("DOMAIN", "domain"),
        mailbox,
      );
      return ok(`${mailbox.trim()} added to ${list.name}@${list.domain}`);
    },
  },
  {
    path: "LIST MEMBER DEL",
    usage: ["LIST MEMBER DEL NAME=<list> DOMAIN=<domain> MAILBOX=<addr>"],
    summary: "remove a member from a list",
    keys: ["NAME", "DOMAIN", "MAILBOX"],
    async run({ ctx, params }) {
      const mailbox = params.need("MAILBOX", "addr");
      const list = await ctx.directory.delMember(
        params.need("NAME", "list"),
        params.need("DOMAIN", "domain"),
        mailbox,
      );
      return ok(`${mailbox.trim()} removed from ${list.name}@${list.domain}`);
    },
  },
  {
    path: "LIST SHOW",
    usage: ["LIST SHOW [ALL] [DOMAIN=<domain>]", "LIST SHOW NAME=<list> DOMAIN=<domain>"],
    summary: "list the mailing lists / one list with its members",
    keys: ["NAME", "DOMAIN"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      if (showMode(params, words) === "all") {
        const lines = ctx.directory.lists(domainFilter(ctx, params)).map((l) =>
          `${l.name}@${l.domain} Access=${l.access} Members=${l.members.length}`
        );
        return ok(plural(lines.length, "list"), lines);
      }
      const name = params.need("NAME", "list").trim().toLowerCase();
      const domain = domainFilter(ctx, params) ?? params.need("DOMAIN", "domain");
      const list = ctx.directory.getList(name, domain);
      if (!list) throw new AdminError(`list ${name}@${domain} does not exist`);
      return ok(`list ${list.name}@${list.domain}: ${plural(list.members.length, "member")}`, [
        kv("Name", list.name),
        kv("Domain", list.domain),
        kv("Access", list.access),
        kv("Members", list.members.length),
        ...list.members.map((m) => kv("Member", m)),
      ]);
    },
  },
];
