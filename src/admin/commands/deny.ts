/**
 * DENY ADD / DEL / SHOW (SPEC §4, §5): networks, domains and mailboxes refused in or out.
 * Kinds are written as parameters to add or delete one entry (IPIN=10.0.0.0/8) and as
 * bare words to address all entries of a kind (DENY DEL IPIN, DENY SHOW IPOUT).
 */
import { DENY_KINDS, type DenyKind } from "../../directory/records.ts";
import { AdminError, ok } from "../reply.ts";
import { plural } from "./common.ts";
import type { CommandSpec, Params } from "./types.ts";

const KINDS: readonly string[] = DENY_KINDS;
const KIND_LIST = DENY_KINDS.join(" | ");

/** The one KIND=value of DENY ADD or DENY DEL. */
function onePair(params: Params): { kind: DenyKind; value: string } | null {
  const keys = params.keys();
  if (keys.length === 0) return null;
  if (keys.length > 1) {
    throw new AdminError(`${params.command} takes one entry at a time, got ${keys.join(", ")}`);
  }
  const kind = keys[0] as DenyKind;
  return { kind, value: params.need(kind, "value") };
}

/** The words of DENY DEL/SHOW: ALL or one kind; none of them means ALL for SHOW. */
function kindWord(command: string, words: string[]): DenyKind | "ALL" | null {
  if (words.length > 1) {
    throw new AdminError(`${command} takes ALL or one kind (${KIND_LIST}), got ${words.join(" ")}`);
  }
  return (words[0] as DenyKind | "ALL" | undefined) ?? null;
}

export const DENY_COMMANDS: CommandSpec[] = [
  {
    path: "DENY ADD",
    usage: [
      "DENY ADD IPIN=<ip/mask> | IPOUT=<ip/mask> | DOMAININ=<domain> | DOMAINOUT=<domain>",
      "    | MAILBOXIN=<mailbox> | MAILBOXOUT=<mailbox>",
    ],
    summary: "add a deny entry: IN refuses SMTP clients (IPIN) or senders, OUT MX hosts (IPOUT)" +
      " or recipients",
    keys: [...KINDS],
    async run({ ctx, params }) {
      const pair = onePair(params);
      if (!pair) throw new AdminError(`DENY ADD needs one of ${DENY_KINDS.join("=, ")}=`);
      const entry = await ctx.directory.addDeny(pair.kind, pair.value);
      return ok(`deny ${entry.kind}=${entry.value} added`);
    },
  },
  {
    path: "DENY DEL",
    usage: [
      "DENY DEL ALL | IPIN | IPOUT | DOMAININ | DOMAINOUT | MAILBOXIN | MAILBOXOUT",
      "DENY DEL IPIN=<ip/mask> | IPOUT=<ip/mask> | DOMAININ=<domain> | ... ",
    ],
    summary: "delete all entries, all entries of one kind, or one entry",
    keys: [...KINDS],
    words: ["ALL", ...KINDS],
    async run({ ctx, params, words }) {
      const pair = onePair(params);
      const word = kindWord("DENY DEL", words);
      if (pair && word) throw new AdminError(`DENY DEL takes ${word} or ${pair.kind}=, not both`);
      if (pair) {
        await ctx.directory.delDeny(pair.kind, pair.value);
        return ok(`deny ${pair.kind}=${pair.value.trim()} deleted`);
      }
      if (!word) {
        throw new AdminError(`DENY DEL needs ALL, a kind (${KIND_LIST}) or one KIND=value`);
      }
      const n = await ctx.directory.delDeny(word === "ALL" ? undefined : word);
      return ok(`${plural(n, "deny entry", "deny entries")} deleted`);
    },
  },
  {
    path: "DENY SHOW",
    usage: ["DENY SHOW [ALL | IPIN | IPOUT | DOMAININ | DOMAINOUT | MAILBOXIN | MAILBOXOUT]"],
    summary: "list deny entries, one per line as KIND=value",
    words: ["ALL", ...KINDS],
    run({ ctx, words }) {
      const word = kindWord("DENY SHOW", words) ?? "ALL";
      const lines = ctx.directory.denies(word === "ALL" ? undefined : word).map((d) =>
        `${d.kind}=${d.value}`
      );
      return ok(plural(lines.length, "deny entry", "deny entries"), lines);
    },
  },
];
