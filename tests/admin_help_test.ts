/**
 * SPEC §4: every syntax line HELP shows is a command the server takes. Each usage line of
 * the command table is turned into concrete commands (without its optional parts, with
 * all of them, and with each alternative on its own) and sent to a real daemon; the
 * answer may be a semantic -ERR (no such user) but never a refusal of the syntax itself.
 */
import { equal, ok } from "node:assert/strict";
import { COMMANDS } from "../src/admin/commands/table.ts";
import { startTestServer } from "./helpers/server.ts";
import { AdminWire } from "./helpers/spec.ts";

/** Concrete values for the placeholders of the usage lines. */
const VALUES: Record<string, string> = {
  "<domain>": "example.com",
  "<user>": "joe",
  "<name>": "info",
  "<list>": "team",
  "<dir>": "custom/joe",
  "<password>": "pw-joe",
  "<size>": "10M",
  "<addr>": "someone@example.org",
  "<login>": "joe-login",
  "<id>": "00000000000000",
  "<ip/mask>": "10.9.0.0/16",
  "<mailbox>": "spam@example.org",
  "<old>": "not-the-admin-password",
  "<new>": "new-admin-password",
  "<family>": "USER",
  "<command>": "USER",
  "<s>": "sel1",
};

/** Splits at `sep` outside brackets. */
function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[") depth++;
    else if (text[i] === "]") depth--;
    else if (depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

type Segment = string | string[];

/** Text and optional groups `[a | b]` (each group: its alternatives). */
function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("[", i);
    if (open < 0) {
      out.push(text.slice(i));
      break;
    }
    out.push(text.slice(i, open));
    const close = text.indexOf("]", open);
    out.push(text.slice(open + 1, close).split(" | ").map((s) => s.trim()));
    i = close + 1;
  }
  return out;
}

/** Commands a usage line stands for: none of the optional parts, all, each one alone. */
function concreteCommands(path: string, usage: string): string[] {
  let line = usage
    .replace(/\[,<addr>\.\.\.\]/g, "") // a repeated list item
    .replace(/(?<=\S)\|[^\s\]]*/g, "") // value choices (YES|NO): the first
    .replace(/\s+/g, " ")
    .trim();
  for (const [placeholder, value] of Object.entries(VALUES)) {
    line = line.replaceAll(placeholder, value);
  }
  // Alternatives of whole arguments: "DENY ADD IPIN=... | IPOUT=... | ...".
  const words = path.split(" ").length;
  const head = line.split(" ").slice(0, words).join(" ");
  const rest = line.split(" ").slice(words).join(" ");
  const alternatives = head === path
    ? splitTop(rest, " | ").map((a) => a.trim()).filter((a) => a !== "...")
    : [rest];
  const out = new Set<string>();
  for (const alternative of alternatives) {
    const prefix = head === path ? `${path} ` : `${head} `;
    const segs = segments(alternative);
    const groups = segs.filter((s) => Array.isArray(s)) as string[][];
    const build = (pick: (g: string[], index: number) => string) => {
      let n = 0;
      return (prefix + segs.map((s) => (Array.isArray(s) ? pick(s, n++) : s)).join(" "))
        .replace(/\s+/g, " ").trim();
    };
    out.add(build(() => ""));
    out.add(build((g) => g[0]));
    groups.forEach((g, gi) => {
      for (const choice of g) out.add(build((_, n) => (n === gi ? choice : "")));
    });
  }
  return [...out];
}

/** Answers that refuse a command's syntax (as opposed to its objects). */
const SYNTAX_REFUSALS =
  /unknown command|unexpected word|unknown parameter|takes no parameters|needs one of|needs ALL|takes either|takes ALL or one kind|no help for|LOGIN first|needs [A-Z]+=</;

Deno.test("admin: every HELP syntax line is a command the server takes", async () => {
  const srv = await startTestServer();
  try {
    const admin = await AdminWire.open(srv.ports.admin);
    // Objects for the commands to act on; later DEL commands may remove them again.
    for (
      const setup of [
        "DOMAIN ADD NAME=example.com",
        "USER ADD NAME=joe DOMAIN=example.com PASS=pw-joe",
        "ALIAS ADD NAME=info DOMAIN=example.com FORWARD=joe@example.com",
        "LIST ADD NAME=team DOMAIN=example.com",
      ]
    ) await admin.ok(setup);
    const tried: string[] = [];
    // Commands that end the session or the daemon are checked elsewhere.
    const skip = new Set(["LOGIN", "QUIT", "SMTPD STOP"]);
    for (const spec of COMMANDS) {
      if (skip.has(spec.path)) continue;
      // Continuation lines (indented) belong to the line before them.
      const lines: string[] = [];
      for (const u of spec.usage) {
        if (u.startsWith(" ") && lines.length) lines[lines.length - 1] += " " + u.trim();
        else lines.push(u);
      }
      for (const usage of lines) {
        for (const command of concreteCommands(spec.path, usage)) {
          const r = await admin.cmd(command);
          ok(
            !SYNTAX_REFUSALS.test(r.status),
            `HELP shows "${usage}", but "${command}" -> ${r.status}`,
          );
          tried.push(command);
        }
      }
    }
    ok(tried.length > 60, `only ${tried.length} commands tried`);
    ok(tried.includes("QUEUE SHOW"), tried.join("\n"));
    ok(tried.includes("USER SHOW DOMAIN=example.com"), tried.join("\n"));
    ok(tried.includes("DNS CACHE SHOW"), tried.join("\n"));
    admin.close();
  } finally {
    equal(await srv.stop(), 0);
  }
});
