/**
 * The pipeline in-process with a real ServerContext: local delivery, recipients,
 * deny entries, relay rules, loops and duplicates (SPEC §5).
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { checkConnect } from "../src/delivery/pipeline.ts";
import {
  fixture,
  message,
  send,
  session,
  SIMPLE,
  text,
  users,
  withoutTrace,
} from "./delivery_fixture.ts";

Deno.test("local delivery is byte-exact with Return-Path and Received on top", async () => {
  const fx = await fixture();
  try {
    await users(fx.ctx, ["bob"]);
    // 8-bit body, a line that was dot-stuffed on the wire, no final newline issues.
    const body = "Grüße aus Köln\r\n.hidden dot line\r\n\r\nlast line\r\n";
    const data = message({ From: "a@remote.example", Subject: "8bit" }, body);
    const r = await send(fx.ctx, {
      from: "a@remote.example",
      to: ["Bob@Test.Example"],
      data,
      params: { body: "8BITMIME" },
    });
    assertEquals(r.rcpt.map(String), ["250 2.1.5 <Bob@Test.Example>: Recipient ok\r\n"]);
    assertEquals(r.data!.toString(), `250 2.0.0 Ok: queued as ${r.queueId}\r\n`);
    const [stored] = await fx.inbox("bob", "test.example");
    const t = withoutTrace(stored);
    assertEquals(t.returnPath, "<a@remote.example>");
    assertEquals(t.rest, data);
    match(
      t.received,
      /^Received: from client\.example\.net \(\[192\.0\.2\.10\]\)\r\n\tby mx\.test\.example with ESMTP id /,
    );
    ok(t.received.includes(`id ${r.queueId}\r\n\tfor <Bob@Test.Example>; `));
    assertEquals(fx.ctx.stats.received, 1);
    assertEquals(fx.ctx.stats.delivered, 1);
    assertEquals(fx.queue.messages.length, 0);
  } finally {
    await fx.close();
  }
});

Deno.test("a Return-Path arriving with the message is replaced by ours", async () => {
  const fx = await fixture();
  try {
    await users(fx.ctx, ["bob"]);
    const r = await send(fx.ctx, {
      from: "a@remote.example",
      to: ["bob@test.example"],
      data: "Return-Path: <forged@evil.example>\r\n" + SIMPLE,
    });
    equal(r.data!.code, 250);
    const t = withoutTrace((await fx.inbox("bob", "test.example"))[0]);
    assertEquals([t.returnPath, t.rest], ["<a@remote.example>", SIMPLE]);
  } finally {
    await fx.close();
  }
});

Deno.test("several local recipients: one copy each, no 'for' clause; null sender", async () => {
  const fx = await fixture();
  try {
    await users(fx.ctx, ["bob", "carol"]);
    const r = await send(fx.ctx, {
      from: "",
      to: ["bob@test.example", "carol@test.example"],
      data: SIMPLE,
    });
    equal(r.data!.code, 250);
    for (const name of ["bob", "carol"]) {
      const box = await fx.inbox(name, "test.example");
      assertEquals(box.length, 1);
      const t = withoutTrace(box[0]);
      assertEquals(t.returnPath, "<>");
      ok(!t.received.includes(" for <"));
    }
    assertEquals(fx.ctx.stats.delivered, 2);
  } finally {
    await fx.close();
  }
});

Deno.test("unknown user 550 5.1.1; malformed addresses; postmaster", async () => {
  const fx = await fixture();
  try {
    await users(fx.ctx, ["bob", "postmaster"]);
    const r = await send(fx.ctx, {
      from: "a@remote.example",
      to: ["nobody@test.example", "bad@@x", "Postmaster"],
      data: SIMPLE,
    });
    match(r.rcpt[0].toString(), /^550 5\.1\.1 /);
    match(r.rcpt[1].toString(), /^553 5\.1\.3 /);
    match(r.rcpt[2].toString(), /^250 2\.1\.5 /);
    assertEquals((await fx.inbox("postmaster", "test.example")).length, 1);
    // RFC 5321 4.5.1: postmaster at the name in our greeting and DSNs (HostName, not a
    // local domain here) is ours too, from any client, like the bare <postmaster>.
    const host = await send(fx.ctx, {
      from: "a@remote.example",
      to: ["PostMaster@MX.test.example", "other@mx.test.example"],
      data: SIMPLE,
    });
    match(host.rcpt[0].toString(), /^250 2\.1\.5 /);
    match(host.rcpt[1].toString(), /^554 5\.7\.1 /, "only postmaster@ HostName is ours");
    assertEquals((await fx.inbox("postmaster", "test.example")).length, 2);
    const bad = await send(fx.ctx, {
      from: "not an address",
      to: ["bob@test.example"],
      data: SIMPLE,
    });
    match(bad.mail!.toString(), /^553 5\.1\.7 /);
    const utf = await send(fx.ctx, {
      from: "jörg@remote.example",
      to: ["bob@test.example"],
      data: SIMPLE,
    });
    match(utf.mail!.toString(), /^553 5\.6\.7 /);
    const utfOk = await send(fx.ctx, {
      from: "jörg@remote.example",
      to: ["bob@test.example"],
      data: SIMPLE,
      params: { smtpUtf8: true },
    });
    equal(utfOk.data!.code, 250);
    match((await fx.inbox("bob", "test.example"))[0], /with UTF8SMTP id/);
  } finally {
    await fx.close();
  }
});

Deno.test("alias, catch-all, alias loop, duplicates collapse", async () => {
  const fx = await fixture();
  try {
    const { ctx } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.addAlias("team", "test.example", [
      "bob@test.example",
      "carol@test.example",
    ]);
    await ctx.directory.addAlias("a", "test.example", ["b@test.example"]);
    await ctx.directory.addAlias("b", "test.example", ["a@test.example"]);
    const loop = await send(ctx, {
      from: "x@remote.example",
      to: ["a@test.example"],
      data: SIMPLE,
    });
    match(loop.rcpt[0].toString(), /^550 5\.4\.6 /);

    const r = await send(ctx, {
      from: "x@remote.example",
      to: ["team@test.example", "bob@test.example", "BOB@test.example", "carol@TEST.example"],
      data: SIMPLE,
    });
    assertEquals(r.rcpt.map((x) => x.code), [250, 250, 250, 250]);
    match(r.rcpt[2].toString(), /duplicate/);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
    assertEquals((await fx.inbox("carol", "test.example")).length, 1);

    // No catch-all yet: unknown. With one: everything unknown goes to it.
    match(
      (await send(ctx, { from: "x@remote.example", to: ["zz@test.example"], data: SIMPLE })).rcpt[0]
        .toString(),
      /^550 5\.1\.1/,
    );
    await ctx.directory.addAlias("*", "test.example", ["carol@test.example"]);
    const ca = await send(ctx, { from: "x@remote.example", to: ["zz@test.example"], data: SIMPLE });
    equal(ca.data!.code, 250);
    assertEquals((await fx.inbox("carol", "test.example")).length, 2);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
  } finally {
    await fx.close();
  }
});

Deno.test("deny entries: IPIN, DOMAININ, MAILBOXIN, DOMAINOUT, MAILBOXOUT", async () => {
  const fx = await fixture();
  try {
    const { ctx } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.addDeny("IPIN", "198.51.100.0/24");
    await ctx.directory.addDeny("DOMAININ", "spam.example");
    await ctx.directory.addDeny("MAILBOXIN", "evil@remote.example");
    await ctx.directory.addDeny("DOMAINOUT", "blocked.example");
    await ctx.directory.addDeny("MAILBOXOUT", "carol@test.example");
    match(checkConnect(ctx, session({ clientIp: "198.51.100.7" }))!.toString(), /^554 5\.7\.1 /);
    equal(checkConnect(ctx, session({ clientIp: "192.0.2.1" })), null);
    for (const from of ["x@spam.example", "x@sub.spam.example", "EVIL@remote.example"]) {
      match(
        (await send(ctx, { from, to: ["bob@test.example"], data: SIMPLE })).mail!.toString(),
        /^550 5\.7\.1 /,
      );
    }
    // Local users' outbound mail included: an authenticated user is refused too.
    const auth = session({
      service: "submission",
      authUser: ctx.directory.getUser("bob", "test.example")!,
    });
    const out = await send(ctx, {
      from: "bob@test.example",
      to: ["x@blocked.example", "carol@test.example", "ok@fine.example"],
      data: SIMPLE,
      info: auth,
    });
    assertEquals(out.rcpt.map((x) => x.toString().slice(0, 9)), [
      "550 5.7.1",
      "550 5.7.1",
      "250 2.1.5",
    ]);
    equal(out.data!.code, 250);
    assertEquals(fx.queue.messages.map((m) => m.to), [["ok@fine.example"]]);
  } finally {
    await fx.close();
  }
});

Deno.test("relay: refused from outside without AUTH, allowed from LocalIP and with AUTH", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob"]);
    const outside = await send(ctx, {
      from: "x@remote.example",
      to: ["y@elsewhere.example"],
      data: SIMPLE,
    });
    assertEquals(
      outside.rcpt[0].toString(),
      "554 5.7.1 <y@elsewhere.example>: Relay access denied\r\n",
    );
    assertEquals(queue.messages.length, 0);

    const local = await send(ctx, {
      from: "x@remote.example",
      to: ["y@elsewhere.example"],
      data: SIMPLE,
      info: session({ clientIp: "127.0.0.1" }),
    });
    equal(local.data!.code, 250);
    const bob = ctx.directory.getUser("bob", "test.example")!;
    const tls = { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256" };
    const authed = await send(ctx, {
      from: "bob@test.example",
      to: ["z@elsewhere.example", "bob@test.example"],
      data: SIMPLE,
      info: session({ authUser: bob, service: "submission", tls }),
    });
    equal(authed.data!.code, 250);
    assertEquals(queue.messages.length, 2);
    const m = queue.messages[1];
    assertEquals([m.id, m.from, m.to], [authed.queueId, "bob@test.example", [
      "z@elsewhere.example",
    ]]);
    const t = text(m.data);
    ok(t.endsWith(SIMPLE));
    ok(!t.startsWith("Return-Path"));
    match(
      t,
      /^Received: from client\.example\.net \(\[192\.0\.2\.10\]\)\r\n\t\(using TLSv1\.3 with cipher TLS_AES_128_GCM_SHA256\)\r\n\t\(authenticated as bob@test\.example\)\r\n\tby mx\.test\.example with ESMTPSA id /,
    );
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
    assertEquals(ctx.stats.queued, 2);

    // Submission without AUTH is refused at MAIL.
    match(
      (await send(ctx, {
        from: "x@remote.example",
        to: ["bob@test.example"],
        data: SIMPLE,
        info: session({ service: "submission" }),
      })).mail!.toString(),
      /^530 5\.7\.0/,
    );
  } finally {
    await fx.close();
  }
});

Deno.test("a queue that cannot store the message: 451 4.3.0 at DATA, local mail still works", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    queue.failing = true;
    await users(ctx, ["bob"]);
    const r = await send(ctx, {
      from: "x@remote.example",
      to: ["y@elsewhere.example", "bob@test.example"],
      data: SIMPLE,
      info: session({ clientIp: "127.0.0.1" }),
    });
    equal(r.rcpt[0].code, 250);
    match(r.data!.toString(), /^451 4\.3\.0 /);
    equal(queue.messages.length, 0);
    const local = await send(ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: SIMPLE,
    });
    equal(local.data!.code, 250);
  } finally {
    await fx.close();
  }
});

Deno.test("mail loop: more than 50 Received headers is refused with 554 5.4.6", async () => {
  const fx = await fixture();
  try {
    await users(fx.ctx, ["bob"]);
    const hops = (n: number) =>
      Array.from({ length: n }, (_, i) => `Received: from h${i} by h${i + 1}; date`);
    const ok50 = await send(fx.ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: message([...hops(50), "Subject: s"]),
    });
    equal(ok50.data!.code, 250);
    const loop = await send(fx.ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: message([...hops(51), "Subject: s"]),
    });
    match(loop.data!.toString(), /^554 5\.4\.6 /);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
    assertEquals(fx.ctx.stats.received, 1);
  } finally {
    await fx.close();
  }
});
