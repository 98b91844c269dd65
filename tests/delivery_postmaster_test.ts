/**
 * SPEC §5 postmaster routing, the pure part (src/delivery/expand.ts): postmaster@ a local
 * domain goes to the domain's user, alias or list `postmaster`, else to the `Postmaster`
 * key, else to the Maildir DirBase/postmaster/ (POSTMASTER_MAILBOX); and the key check.
 */
import { deepStrictEqual as assertEquals, equal, match, ok, throws } from "node:assert/strict";
import {
  type DirectoryLookup,
  expand,
  isPostmasterMailbox,
  POSTMASTER_MAILBOX,
} from "../src/delivery/expand.ts";
import type { ListRecord, LocalTarget } from "../src/directory/records.ts";
import { parseConfigText } from "../src/config/load.ts";
import { userRecord } from "./helpers/users.ts";
import { convertClassic } from "../src/config/convert.ts";

const DOMAINS = ["a.example", "b.example"];

function lookup(entries: Record<string, LocalTarget>, deny: string[] = []): DirectoryLookup {
  return {
    isLocalDomain: (d) => DOMAINS.includes(d),
    resolveLocal: (local, domain) =>
      entries[`${local}@${domain}`.toLowerCase()] ?? entries[`*@${domain}`] ?? { kind: "unknown" },
    getList: (name, domain) => {
      const t = entries[`${name}@${domain}`];
      return t?.kind === "list" ? t.list : undefined;
    },
    isDenied: (_kind, value) => deny.includes(value),
  };
}

const user = (name: string, domain = "a.example"): LocalTarget => ({
  kind: "user",
  user: userRecord(name, domain),
});
const alias = (name: string, forward: string[], domain = "a.example"): LocalTarget => ({
  kind: name === "*" ? "catchall" : "alias",
  alias: { name, domain, forward },
});

/** Where an address's mail goes: local user names (`<maildir>` for DirBase/postmaster/) and remotes. */
function targets(dir: DirectoryLookup, address: string, postmaster?: string): string[] {
  const e = expand(dir, address, { sender: "someone@remote.example", postmaster });
  return [
    ...e.locals.map((l) =>
      isPostmasterMailbox(l.user) ? "<maildir>" : `${l.user.name}@${l.user.domain}`
    ),
    ...e.remotes.map((r) => r.address),
  ];
}

Deno.test("postmaster: the domain's own user, alias or list comes first, any case", () => {
  const team: ListRecord = {
    name: "postmaster",
    domain: "b.example",
    access: "PUBLIC",
    members: ["x@a.example"],
  };
  const dir = lookup({
    "postmaster@a.example": user("pm"),
    "x@a.example": user("x"),
    "postmaster@b.example": { kind: "list", list: team },
  });
  assertEquals(targets(dir, "PostMaster@a.example", "boss@remote.example"), ["pm@a.example"]);
  assertEquals(targets(dir, "postmaster@b.example", "boss@remote.example"), ["x@a.example"]);
  const aliased = lookup({
    "postmaster@a.example": alias("postmaster", ["x@a.example"]),
    "x@a.example": user("x"),
  });
  assertEquals(targets(aliased, "POSTMASTER@a.example"), ["x@a.example"]);
});

Deno.test("postmaster: without one, the Postmaster key (local or remote), else DirBase/postmaster/", () => {
  const dir = lookup({ "boss@a.example": user("boss") });
  assertEquals(targets(dir, "postmaster@b.example"), ["<maildir>"]);
  assertEquals(targets(dir, "postmaster@b.example", ""), ["<maildir>"]);
  assertEquals(targets(dir, "postmaster@b.example", "boss@a.example"), ["boss@a.example"]);
  const remote = expand(dir, "Postmaster@b.example", {
    sender: "x@remote.example",
    postmaster: "Admin@far.example",
  });
  // Remote: through the queue like a forward, SRS'd on behalf of the postmaster address.
  assertEquals(remote.remotes, [{
    address: "Admin@far.example",
    group: null,
    via: "postmaster@b.example",
  }]);
  assertEquals(remote.locals, []);
  // The Maildir is one mailbox for every domain: postmaster@ of two domains, one copy.
  const both = lookup({
    "all@a.example": alias("all", ["postmaster@a.example", "postmaster@b.example"]),
  });
  assertEquals(targets(both, "all@a.example"), ["<maildir>"]);
});

Deno.test("postmaster: a catch-all does not take postmaster@ mail; a list's bounces follow the rule", () => {
  const list: ListRecord = { name: "team", domain: "a.example", access: "PUBLIC", members: [] };
  const dir = lookup({
    "*@a.example": alias("*", ["catch@a.example"]),
    "catch@a.example": user("catch"),
    "team@a.example": { kind: "list", list },
  });
  assertEquals(targets(dir, "postmaster@a.example"), ["<maildir>"]);
  assertEquals(targets(dir, "team-bounces@a.example"), ["<maildir>"]);
  assertEquals(targets(dir, "team-bounces@a.example", "catch@a.example"), ["catch@a.example"]);
  assertEquals(targets(dir, "someone@a.example"), ["catch@a.example"]);
});

Deno.test("postmaster: a Postmaster key that leads nowhere still keeps the mail in DirBase/postmaster/", () => {
  const dir = lookup({
    "loop@a.example": alias("loop", ["postmaster@a.example"]),
    "denied@a.example": user("denied"),
  }, ["denied@a.example"]);
  // A deleted user, a deny entry, the key naming itself, an alias back to postmaster@.
  for (
    const key of ["gone@a.example", "denied@a.example", "postmaster@b.example", "loop@a.example"]
  ) {
    const e = expand(dir, "postmaster@a.example", { sender: "", postmaster: key });
    assertEquals(e.locals.map((l) => l.user), [POSTMASTER_MAILBOX], key);
    assertEquals(e.loop, false, key);
    ok(e.notes.some((n) => n.includes(`Postmaster ${key} leads nowhere`)), key);
  }
  // Non-local domains and other local parts are not touched by the rule.
  equal(expand(dir, "postmaster@remote.example", { sender: "" }).remotes.length, 1);
  equal(expand(dir, "postmasters@a.example", { sender: "" }).unknown, true);
});

Deno.test('config: Postmaster is "" by default, an address, A-label domain; nonsense refused naming the key', () => {
  const path = "/etc/extremail/extremail.toml";
  equal(parseConfigText("", path).Postmaster, "");
  equal(
    parseConfigText('Postmaster = "Admin@Bücher.example"', path).Postmaster,
    "Admin@xn--bcher-kva.example",
  );
  for (const bad of ["admin", "@x.example", "a b@x.example", "bøss@x.example"]) {
    throws(
      () => parseConfigText(`Postmaster = "${bad}"`, path),
      (
        e: Error,
      ) => (match(e.message, /Postmaster = .*must be "" \(the Maildir DirBase\/postmaster\/\) or/),
        true),
      bad,
    );
  }
});

Deno.test("convert-conf: a classic Postmaster line (any case) becomes the key", () => {
  const { toml, unknown } = convertClassic("postmaster = hostmaster@example.com\n");
  assertEquals(unknown, []);
  equal(
    parseConfigText(toml, "converted.toml", { baseDir: null }).Postmaster,
    "hostmaster@example.com",
  );
  throws(() => convertClassic("Postmaster = nobody\n"), /line 1: Postmaster = nobody: must be ""/);
});
