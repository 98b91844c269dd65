/**
 * The admin command table (SPEC §4) and its dispatcher: the longest run of leading words
 * that names a command picks it; then its extra words and KEY= parameters are checked
 * against what it accepts before it runs. HELP is generated from the same table, so the
 * syntax it shows is the syntax that is enforced.
 */
import { AdminError, ok, type Reply } from "../reply.ts";
import { ALIAS_COMMANDS, LIST_COMMANDS } from "./alias_list.ts";
import { DENY_COMMANDS } from "./deny.ts";
import { DKIM_COMMANDS } from "./dkim.ts";
import { DOMAIN_COMMANDS } from "./domain.ts";
import { SERVER_COMMANDS } from "./server.ts";
import { type CommandSpec, Params } from "./types.ts";
import { USER_COMMANDS } from "./user.ts";
import { USER_MOVE_COMMANDS } from "./user_move.ts";

/** Families for HELP, in the order HELP lists them, with what they are about. */
const FAMILIES: [string, string][] = [
  ["DOMAIN", "local (virtual) domains"],
  ["USER", "mailbox accounts: password, quota, limits, forwarding, autoreply, login map"],
  ["ALIAS", "addresses that forward to others, catch-all"],
  ["LIST", "mailing lists and their members"],
  ["DENY", "refused networks, domains and mailboxes, inbound and outbound"],
  ["QUEUE", "the outbound queue"],
  ["DNS", "the DNS cache of outbound delivery"],
  ["DKIM", "DKIM signing keys and the DNS records to publish"],
];

const GENERAL_COMMANDS: CommandSpec[] = [
  {
    path: "LOGIN",
    usage: ["LOGIN <password>"],
    summary: "authenticate the session (the password is the rest of the line)",
    rawArgs: true,
    beforeLogin: true,
    run: ({ session, raw }) => session.login(raw),
  },
  {
    path: "HELP",
    usage: ["HELP [<family>|<command>]", "<family> HELP"],
    summary: "this text / the syntax of a family's commands",
    rawArgs: true,
    beforeLogin: true,
    run: ({ raw }) => help(raw.trim().split(/[ \t]+/).filter(Boolean).map((w) => w.toUpperCase())),
  },
  {
    path: "QUIT",
    usage: ["QUIT"],
    summary: "close the session",
    beforeLogin: true,
    run: () => ({ ok: true, text: "bye", data: [], after: "close" }),
  },
];

export const COMMANDS: CommandSpec[] = [
  ...GENERAL_COMMANDS,
  ...SERVER_COMMANDS,
  ...DOMAIN_COMMANDS,
  ...USER_COMMANDS,
  ...USER_MOVE_COMMANDS,
  ...ALIAS_COMMANDS,
  ...LIST_COMMANDS,
  ...DENY_COMMANDS,
  ...DKIM_COMMANDS,
];

const startsWith = (words: string[], prefix: string[]) => prefix.every((w, i) => words[i] === w);

/** The command named by the leading words, and how many words its name has. */
export function findCommand(words: string[]): { spec: CommandSpec; length: number } | null {
  let best: { spec: CommandSpec; length: number } | null = null;
  for (const spec of COMMANDS) {
    const path = spec.path.split(" ");
    if (startsWith(words, path) && (!best || path.length > best.length)) {
      best = { spec, length: path.length };
    }
  }
  return best;
}

/** Why no command matched: names the family's subcommands when the first words are known. */
export function unknownCommand(words: string[]): AdminError {
  for (let n = words.length; n >= 1; n--) {
    const prefix = words.slice(0, n);
    const next = new Set(
      COMMANDS.map((c) => c.path.split(" "))
        .filter((p) => p.length > n && startsWith(p, prefix))
        .map((p) => p[n]),
    );
    if (next.size === 0) continue;
    const known = prefix.join(" ");
    const choices = [...next].join(", ");
    return new AdminError(
      words.length === n
        ? `${known} needs one of ${choices}; ${words[0]} HELP shows the syntax`
        : `unknown ${known} command "${words[n]}"; use one of ${choices} (${words[0]} HELP)`,
    );
  }
  return new AdminError(`unknown command "${words[0]}"; HELP lists the commands`);
}

/** Checks the extra words and parameters against the command's table entry. */
export function checkArguments(
  spec: CommandSpec,
  words: string[],
  map: Map<string, string>,
): Params {
  const params = new Params(spec.path, map);
  const allowedWords = spec.words ?? [];
  for (const w of words) {
    if (!allowedWords.includes(w)) {
      throw new AdminError(`unexpected word "${w}" in ${spec.path}; syntax: ${syntaxOf(spec)}`);
    }
  }
  const allowedKeys = spec.keys ?? [];
  for (const key of params.keys()) {
    if (!allowedKeys.includes(key)) {
      throw new AdminError(
        allowedKeys.length
          ? `unknown parameter ${key} for ${spec.path}; it takes ${allowedKeys.join(", ")}`
          : `${spec.path} takes no parameters, got ${key}=`,
      );
    }
  }
  return params;
}

function syntaxOf(spec: CommandSpec): string {
  return spec.usage.filter((u) => !u.startsWith(" ")).join(" / ");
}

/** `<family> HELP` or `HELP <topic words>`: the syntax of every command under the topic. */
export function help(topic: string[]): Reply {
  if (topic.length === 0) return generalHelp();
  const specs = COMMANDS.filter((c) => startsWith(c.path.split(" "), topic));
  if (specs.length === 0) {
    throw new AdminError(`no help for "${topic.join(" ")}"; HELP lists the command families`);
  }
  const name = topic.join(" ");
  const lines = [`${name} commands:`];
  for (const spec of specs) {
    for (const u of spec.usage) lines.push(`  ${u}`);
    lines.push(`    ${spec.summary}`);
  }
  lines.push(
    'Values with spaces go in double quotes, where \\" and \\\\ stand for " and \\.',
  );
  if (specs.some((s) => s.usage.some((u) => u.includes("<size>")))) {
    lines.push("<size> is bytes or a number with K, M or G (K = 1024); 0 means no limit.");
  }
  return ok(`${name} help: ${specs.length} command${specs.length === 1 ? "" : "s"}`, lines);
}

function generalHelp(): Reply {
  const lines = ["eXtremail administration. General commands:"];
  const familyWords = new Set(FAMILIES.map(([f]) => f));
  for (const spec of COMMANDS) {
    if (familyWords.has(spec.path.split(" ")[0])) continue;
    lines.push(`  ${spec.usage[0].padEnd(30)} ${spec.summary}`);
  }
  lines.push("Command families (<family> HELP or HELP <family> shows their syntax):");
  for (const [family, about] of FAMILIES) {
    const subs = [
      ...new Set(
        COMMANDS.filter((c) => c.path.startsWith(family + " ")).map((c) =>
          c.path.slice(family.length + 1)
        ),
      ),
    ];
    lines.push(`  ${family.padEnd(7)} ${about}: ${subs.join(", ")}`);
  }
  lines.push(
    "Parameters are KEY=value; verbs and keys are case-insensitive. Before LOGIN only HELP" +
      " and QUIT work.",
    "Each reply is zero or more data lines, then one line beginning with +OK or -ERR.",
  );
  return ok("help", lines);
}
