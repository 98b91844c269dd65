/** Unit tests of the pure parts: Received format, autoresponder rules, expansion. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { autoReplyRefusal, autoReplySubject, buildAutoReply } from "../src/delivery/autoreply.ts";
import { type DirectoryLookup, expand, POSTMASTER_MAILBOX } from "../src/delivery/expand.ts";
import { receivedHeader, returnPathHeader, withProtocol } from "../src/delivery/received.ts";
import { getHeader, parseHeaderBlock } from "../src/message/header.ts";
import type { ListRecord, LocalTarget, UserRecord } from "../src/directory/records.ts";
import { bytes, text } from "./delivery_fixture.ts";
import { userRecord } from "./helpers/users.ts";

const user = { name: "bob", domain: "test.example" } as UserRecord;

Deno.test("received: protocol names (RFC 3848, RFC 6531)", () => {
  const tls = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" };
  assertEquals(withProtocol({ esmtp: false, tls: null, authUser: null }), "SMTP");
  assertEquals(withProtocol({ esmtp: true, tls: null, authUser: null }), "ESMTP");
  assertEquals(withProtocol({ esmtp: true, tls, authUser: null }), "ESMTPS");
  assertEquals(withProtocol({ esmtp: true, tls: null, authUser: user }), "ESMTPA");
  assertEquals(withProtocol({ esmtp: true, tls, authUser: user }), "ESMTPSA");
  assertEquals(withProtocol({ esmtp: true, tls, authUser: user }, true), "UTF8SMTPSA");
});

Deno.test("received: full header with TLS, AUTH and a single recipient", () => {
  const h = text(receivedHeader({
    info: {
      helo: "client.example.net",
      clientIp: "192.0.2.1",
      esmtp: true,
      tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
      authUser: user,
    },
    hostName: "mx.test.example",
    queueId: "0123456789ABCD",
    recipient: "carol@test.example",
  }));
  match(
    h,
    /^Received: from client\.example\.net \(\[192\.0\.2\.1\]\)\r\n\t\(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384\)\r\n\t\(authenticated as bob@test\.example\)\r\n\tby mx\.test\.example with ESMTPSA id 0123456789ABCD\r\n\tfor <carol@test\.example>; \w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}\r\n$/,
  );
  const b = parseHeaderBlock(bytes(h + "\r\n"));
  assertEquals(b.fields.length, 1);
});

Deno.test("received: IPv6 literal, hostile HELO, no recipient", () => {
  const h = text(receivedHeader({
    info: {
      helo: "evil (x)\r\nX-Injected: 1",
      clientIp: "2001:db8::1",
      esmtp: false,
      tls: null,
      authUser: null,
    },
    hostName: "mx",
    queueId: "Q",
  }));
  ok(h.includes("([IPv6:2001:db8::1])"));
  ok(!h.includes("\r\nX-Injected"));
  ok(h.includes("with SMTP id Q;\r\n\t"), h); // RFC 5322 3.6.7: ";" before the date
  ok(!h.includes(" for <"));
  assertEquals(
    text(
      receivedHeader({
        info: { helo: "", clientIp: "10.0.0.1", esmtp: true, tls: null, authUser: null },
        hostName: "mx",
        queueId: "Q",
      }),
    ).slice(0, 31),
    "Received: from unknown ([10.0.0",
  );
  assertEquals(text(returnPathHeader("")), "Return-Path: <>\r\n");
  assertEquals(text(returnPathHeader("a@b.example")), "Return-Path: <a@b.example>\r\n");
});

function hdrs(lines: string[]) {
  return parseHeaderBlock(bytes(lines.join("\r\n") + "\r\n\r\nbody"));
}

Deno.test("autoreply: RFC 3834 refusals", () => {
  const ok0 = hdrs(["From: a@x.example", "Subject: hi"]);
  assertEquals(autoReplyRefusal(ok0, "a@x.example", "bob@test.example"), null);
  ok(autoReplyRefusal(ok0, "", "bob@test.example"));
  ok(autoReplyRefusal(ok0, "BOB@test.example", "bob@test.example"));
  ok(autoReplyRefusal(ok0, "MAILER-DAEMON@x.example", "bob@test.example"));
  ok(autoReplyRefusal(ok0, "team-bounces@x.example", "bob@test.example"));
  ok(autoReplyRefusal(ok0, "owner-team@x.example", "bob@test.example"));
  ok(autoReplyRefusal(hdrs(["Auto-Submitted: auto-generated"]), "a@x.example", "b@t.example"));
  ok(
    autoReplyRefusal(
      hdrs(["Auto-Submitted: auto-replied (vacation)"]),
      "a@x.example",
      "b@t.example",
    ),
  );
  assertEquals(
    autoReplyRefusal(hdrs(["Auto-Submitted: no (comment)"]), "a@x.example", "b@t.example"),
    null,
  );
  ok(autoReplyRefusal(hdrs(["List-Id: <l.x.example>"]), "a@x.example", "b@t.example"));
  ok(autoReplyRefusal(hdrs(["List-Unsubscribe: <mailto:u@x>"]), "a@x.example", "b@t.example"));
  for (const p of ["bulk", "List", "junk"]) {
    ok(autoReplyRefusal(hdrs([`Precedence: ${p}`]), "a@x.example", "b@t.example"));
  }
  assertEquals(
    autoReplyRefusal(hdrs(["Precedence: first-class"]), "a@x.example", "b@t.example"),
    null,
  );
  ok(
    autoReplyRefusal(
      hdrs(["X-Auto-Response-Suppress: OOF, AutoReply"]),
      "a@x.example",
      "b@t.example",
    ),
  );
});

Deno.test("autoreply: subject and the answer's headers", () => {
  const orig = hdrs([
    "Subject: =?UTF-8?B?R3LDvMOfZQ==?=",
    "Message-ID: <orig@x.example>",
    "References: <r1@x.example>",
  ]);
  assertEquals(autoReplySubject("", orig), "Auto: Grüße");
  assertEquals(autoReplySubject("Out of office", orig), "Out of office");
  assertEquals(autoReplySubject("", hdrs(["From: a@x"])), "Auto: ");
  const msg = parseHeaderBlock(buildAutoReply({
    from: "bob@test.example",
    to: "alice@x.example",
    subject: "",
    text: "I am away.\nBack Monday.",
    original: orig,
    hostName: "mx.test.example",
  }));
  assertEquals(getHeader(msg, "auto-submitted"), "auto-replied");
  assertEquals(getHeader(msg, "from"), "<bob@test.example>");
  assertEquals(getHeader(msg, "to"), "<alice@x.example>");
  assertEquals(getHeader(msg, "in-reply-to"), "<orig@x.example>");
  assertEquals(getHeader(msg, "references"), "<r1@x.example> <orig@x.example>");
  match(getHeader(msg, "subject")!, /^=\?UTF-8\?B\?/);
  assertEquals(text(msg.bytes.subarray(msg.bodyStart)), "I am away.\r\nBack Monday.\r\n");
  const utf = parseHeaderBlock(buildAutoReply({
    from: "b@t.example",
    to: "a@x.example",
    subject: "Abwesend",
    text: "Bin weg. Grüße",
    original: hdrs(["Subject: x"]),
    hostName: "mx",
  }));
  assertEquals(getHeader(utf, "subject"), "Abwesend");
  assertEquals(getHeader(utf, "content-transfer-encoding"), "base64");
  assertEquals(getHeader(utf, "in-reply-to"), undefined);
});

function lookup(
  entries: Record<string, LocalTarget>,
  lists: ListRecord[] = [],
  deny: string[] = [],
): DirectoryLookup {
  return {
    isLocalDomain: (d) => d === "test.example",
    resolveLocal: (local, domain) =>
      entries[`${local}@${domain}`.toLowerCase()] ?? entries[`*@${domain}`] ?? { kind: "unknown" },
    getList: (name, domain) => lists.find((l) => l.name === name && l.domain === domain),
    isDenied: (_k, v) => deny.includes(v),
  };
}
const u = (name: string, extra: Partial<UserRecord> = {}): LocalTarget => ({
  kind: "user",
  user: userRecord(name, "test.example", extra),
});
const alias = (name: string, forward: string[]) =>
  ({
    kind: name === "*" ? "catchall" : "alias",
    alias: { name, domain: "test.example", forward },
  }) as LocalTarget;

Deno.test("expand: users, aliases, forward/keep, copy, dedupe", () => {
  const dir = lookup({
    "bob@test.example": u("bob"),
    "fwd@test.example": u("fwd", { forward: ["far@remote.example", "bob@test.example"] }),
    "keep@test.example": u("keep", {
      forward: ["far@remote.example"],
      keep: true,
      copy: "bob@test.example",
    }),
    "team@test.example": alias("team", [
      "bob@test.example",
      "fwd@test.example",
      "BOB@test.example",
    ]),
  });
  const e = expand(dir, "team@test.example", { sender: "a@x.example" });
  assertEquals(e.locals.map((l) => l.user.name), ["bob"]);
  assertEquals(e.remotes.map((r) => r.address), ["far@remote.example"]);
  const k = expand(dir, "keep@test.example", { sender: "" });
  assertEquals(k.locals.map((l) => l.user.name), ["keep", "bob"]);
  assertEquals(expand(dir, "x@remote.example", { sender: "" }).remotes.length, 1);
});

Deno.test("expand: loops, self-forward, depth limit, catch-all, deny", () => {
  const dir = lookup(
    {
      "a@test.example": alias("a", ["b@test.example"]),
      "b@test.example": alias("b", ["a@test.example"]),
      "self@test.example": u("self", { forward: ["self@test.example"] }),
      "p@test.example": u("p", { forward: ["q@test.example"] }),
      "q@test.example": u("q", { forward: ["p@test.example"] }),
      "*@test.example": alias("*", ["nobody@test.example"]),
      "d@test.example": alias("d", ["x@denied.example", "y@ok.example"]),
    },
    [],
    ["denied.example"],
  );
  const loop = expand(dir, "a@test.example", { sender: "" });
  assertEquals([loop.loop, loop.locals.length, loop.remotes.length], [true, 0, 0]);
  assertEquals(expand(dir, "self@test.example", { sender: "" }).locals.map((l) => l.user.name), [
    "self",
  ]);
  assertEquals(expand(dir, "p@test.example", { sender: "" }).locals.map((l) => l.user.name), ["p"]);
  const catchAll = expand(dir, "whoever@test.example", { sender: "" });
  assertEquals(catchAll.loop, true); // the catch-all forwards into itself
  const denied = expand(dir, "d@test.example", { sender: "" });
  assertEquals([denied.denied, denied.remotes.map((r) => r.address)], [true, ["y@ok.example"]]);
  const chain: Record<string, LocalTarget> = {};
  for (let i = 0; i < 30; i++) {
    chain[`c${i}@test.example`] = alias(`c${i}`, [`c${i + 1}@test.example`]);
  }
  chain["c30@test.example"] = u("end");
  const deep = expand(lookup(chain), "c0@test.example", { sender: "" });
  assertEquals([deep.loop, deep.locals.length], [true, 0]);
});

Deno.test("expand: lists make groups, members-only access, bounce address", () => {
  const list: ListRecord = {
    name: "team",
    domain: "test.example",
    access: "MEMBERS",
    members: ["bob@test.example", "far@remote.example"],
  };
  const dir = lookup({
    "bob@test.example": u("bob", { autoReply: true }),
    "team@test.example": { kind: "list", list },
  }, [list]);
  const e = expand(dir, "team@test.example", { sender: "bob@test.example" });
  assertEquals(e.locals.map((l) => [l.user.name, l.group]), [["bob", "team@test.example"]]);
  assertEquals(e.remotes.map((r) => r.group), ["team@test.example"]);
  assertEquals(e.autoReply.length, 0); // never autoreply to list traffic
  const refused = expand(dir, "team@test.example", { sender: "stranger@x.example" });
  assertEquals([refused.denied, refused.locals.length], [true, 0]);
  // Without a postmaster address, list bounces follow the postmaster rule (SPEC §5).
  const bounce = expand(dir, "team-bounces@test.example", { sender: "" });
  assertEquals([bounce.locals.map((l) => l.user), bounce.unknown], [[POSTMASTER_MAILBOX], false]);
  assertEquals(expand(dir, "nobody@test.example", { sender: "" }).unknown, true);
  // With a postmaster, list bounces go there, even when a catch-all exists.
  const withPm = lookup({
    "team@test.example": { kind: "list", list },
    "postmaster@test.example": u("pm"),
    "*@test.example": alias("*", ["bob@test.example"]),
    "bob@test.example": u("bob"),
  }, [list]);
  const routed = expand(withPm, "team-bounces@test.example", { sender: "" });
  assertEquals(routed.locals.map((l) => l.user.name), ["pm"]);
});
