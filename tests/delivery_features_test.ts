/**
 * SPEC §5 per-user features in-process: mailing lists, FORWARD/KEEP, COPY, the
 * autoresponder (RFC 3834) and submitting generated mail.
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { AutoReplyStore } from "../src/delivery/autoreply_store.ts";
import {
  bytes,
  fixture,
  message,
  send,
  session,
  SIMPLE,
  text,
  users,
  withoutTrace,
} from "./delivery_fixture.ts";

Deno.test("mailing list: members get it from <list>-bounces with List-Id; MEMBERS access", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob", "carol", "dave"]);
    await ctx.directory.addList("team", "test.example", "MEMBERS");
    for (const m of ["bob@test.example", "carol@test.example", "far@remote.example"]) {
      await ctx.directory.addMember("team", "test.example", m);
    }
    const data = message({ From: "bob@test.example", Subject: "hi team", Precedence: "bulk" });
    const refused = await send(ctx, {
      from: "stranger@remote.example",
      to: ["team@test.example"],
      data,
    });
    match(refused.rcpt[0].toString(), /^550 5\.7\.1 /);
    match(
      (await send(ctx, { from: "", to: ["team@test.example"], data })).rcpt[0].toString(),
      /^550 5\.7\.1 /,
    );

    // bob posts (a member) and also names dave directly: dave gets the original envelope.
    const r = await send(ctx, {
      from: "bob@test.example",
      to: ["team@test.example", "dave@test.example"],
      data,
    });
    equal(r.data!.code, 250);
    for (const name of ["bob", "carol"]) {
      const [m] = await fx.inbox(name, "test.example");
      const t = withoutTrace(m);
      assertEquals(t.returnPath, "<team-bounces@test.example>");
      ok(
        t.rest.startsWith(
          "From: bob@test.example\r\nSubject: hi team\r\nList-Id: <team.test.example>\r\n",
        ),
      );
      ok(t.rest.includes("Precedence: list\r\n\r\nHello."));
      ok(!t.rest.includes("Precedence: bulk"));
    }
    assertEquals(
      withoutTrace((await fx.inbox("dave", "test.example"))[0]).returnPath,
      "<bob@test.example>",
    );
    assertEquals(queue.messages.length, 1);
    assertEquals([queue.messages[0].from, queue.messages[0].to], ["team-bounces@test.example", [
      "far@remote.example",
    ]]);
    ok(text(queue.messages[0].data).includes("List-Id: <team.test.example>"));

    // Bounces to the list address are accepted (SPEC §5: bounces come back to the list).
    const bounce = await send(ctx, { from: "", to: ["team-bounces@test.example"], data: SIMPLE });
    equal(bounce.data!.code, 250);
    // No postmaster@test.example and Postmaster = "": kept in DirBase/postmaster/ (SPEC §5).
    const kept = [...Deno.readDirSync(`${ctx.config.DirBase}/postmaster/new`)];
    equal(kept.length, 1);
  } finally {
    await fx.close();
  }
});

Deno.test("FORWARD without KEEP, with KEEP, and COPY", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["fwd", "keeper", "copier", "archive", "bob"]);
    await ctx.directory.modUser("fwd", "test.example", {
      forward: ["far@remote.example", "bob@test.example"],
    });
    await ctx.directory.modUser("keeper", "test.example", {
      forward: ["far@remote.example"],
      keep: true,
    });
    await ctx.directory.modUser("copier", "test.example", { copy: "archive@test.example" });

    equal(
      (await send(ctx, { from: "x@remote.example", to: ["fwd@test.example"], data: SIMPLE })).data!
        .code,
      250,
    );
    assertEquals((await fx.inbox("fwd", "test.example")).length, 0);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
    // SPEC §8: the forwarded copy leaves with an SRS sender in the forwarding domain.
    assertEquals(queue.messages[0].to, ["far@remote.example"]);
    match(queue.messages[0].from, /^SRS0=[^=]{4}=[A-Z2-7]{2}=remote\.example=x@test\.example$/);
    assertEquals(ctx.auth.reverseSrs(queue.messages[0].from), {
      kind: "original",
      address: "x@remote.example",
    });
    ok(text(queue.messages[0].data).endsWith(SIMPLE));

    equal(
      (await send(ctx, { from: "x@remote.example", to: ["keeper@test.example"], data: SIMPLE }))
        .data!.code,
      250,
    );
    assertEquals((await fx.inbox("keeper", "test.example")).length, 1);
    assertEquals(queue.messages.length, 2);

    equal(
      (await send(ctx, { from: "x@remote.example", to: ["copier@test.example"], data: SIMPLE }))
        .data!.code,
      250,
    );
    assertEquals((await fx.inbox("copier", "test.example")).length, 1);
    const [copy] = await fx.inbox("archive", "test.example");
    assertEquals(withoutTrace(copy).rest, SIMPLE);
    // A copy to someone who is also a recipient is still one copy.
    equal(
      (await send(ctx, {
        from: "x@remote.example",
        to: ["copier@test.example", "archive@test.example"],
        data: SIMPLE,
      })).data!.code,
      250,
    );
    assertEquals((await fx.inbox("archive", "test.example")).length, 2);
  } finally {
    await fx.close();
  }
});

Deno.test("autoresponder: once per sender per period, persisted; RFC 3834 headers", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.modUser("bob", "test.example", {
      autoReply: true,
      autoReplyText: "Away until Monday.",
    });
    const first = await send(ctx, {
      from: "alice@remote.example",
      to: ["bob@test.example"],
      data: SIMPLE,
    });
    equal(first.data!.code, 250);
    assertEquals(queue.messages.length, 1);
    const reply = queue.messages[0];
    assertEquals([reply.from, reply.to], ["", ["alice@remote.example"]]);
    const t = text(reply.data);
    match(
      t,
      /^From: <bob@test\.example>\r\nTo: <alice@remote\.example>\r\nSubject: Auto: Hello\r\n/,
    );
    match(t, /\r\nIn-Reply-To: <m1@remote\.example>\r\n/);
    match(t, /\r\nAuto-Submitted: auto-replied\r\n/);
    ok(t.endsWith("\r\n\r\nAway until Monday.\r\n"));

    await send(ctx, { from: "alice@remote.example", to: ["bob@test.example"], data: SIMPLE });
    assertEquals(queue.messages.length, 1); // already answered
    // A local sender is answered into her mailbox, with the configured subject.
    await ctx.directory.modUser("bob", "test.example", { autoReplySubject: "Out of office" });
    await send(ctx, { from: "carol@test.example", to: ["bob@test.example"], data: SIMPLE });
    const [answer] = await fx.inbox("carol", "test.example");
    ok(answer.startsWith("Return-Path: <>\r\nFrom: <bob@test.example>\r\n"));
    match(answer, /\r\nSubject: Out of office\r\n/);
    // The records survive a restart (a new store object reads the file).
    const store = new AutoReplyStore(fx.dir);
    equal(
      await store.claim({ name: "bob", domain: "test.example" }, "alice@remote.example"),
      false,
    );
    equal(
      await store.claim(
        { name: "bob", domain: "test.example" },
        "alice@remote.example",
        Date.now() + 8 * 86400_000,
      ),
      true,
    );
    assertEquals((await fx.inbox("bob", "test.example")).length, 3);
  } finally {
    await fx.close();
  }
});

Deno.test("autoresponder: never to <>, lists, bulk or auto-submitted mail", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob"]);
    await ctx.directory.modUser("bob", "test.example", { autoReply: true, autoReplyText: "away" });
    const cases: [string, string][] = [
      ["", SIMPLE],
      ["a1@remote.example", message({ Subject: "x", "List-Id": "<l.remote.example>" })],
      ["a2@remote.example", message({ Subject: "x", Precedence: "bulk" })],
      ["a3@remote.example", message({ Subject: "x", Precedence: "junk" })],
      ["a4@remote.example", message({ Subject: "x", "Auto-Submitted": "auto-generated" })],
      ["MAILER-DAEMON@remote.example", SIMPLE],
    ];
    for (const [from, data] of cases) {
      equal((await send(ctx, { from, to: ["bob@test.example"], data })).data!.code, 250);
    }
    assertEquals(queue.messages.length, 0);
    assertEquals((await fx.inbox("bob", "test.example")).length, cases.length);
  } finally {
    await fx.close();
  }
});

Deno.test("submit delivers generated mail locally and queues the rest", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue, submit } = fx;
    await users(ctx, ["bob"]);
    const data = bytes(message({ From: "MAILER-DAEMON@mx.test.example", Subject: "bounce" }));
    await submit({
      id: "00000000000001",
      from: "",
      to: ["bob@test.example", "x@remote.example"],
      data,
    });
    const [m] = await fx.inbox("bob", "test.example");
    assertEquals(m, "Return-Path: <>\r\n" + text(data));
    assertEquals(queue.messages.map((q) => [q.id, q.to]), [["00000000000001", [
      "x@remote.example",
    ]]]);
    // Unknown local recipients of a null-sender message are dropped (never bounce a bounce).
    await submit({ id: "00000000000002", from: "", to: ["nobody@test.example"], data });
    queue.failing = true;
    let failed = false;
    await submit({ id: "00000000000003", from: "", to: ["x@remote.example"], data }).catch(
      () => failed = true,
    );
    ok(failed, "a remote copy the queue cannot store must reject so the caller keeps the message");
  } finally {
    await fx.close();
  }
});

Deno.test("remote local parts are case-sensitive (RFC 5321 §2.4): no merging, only the domain folds", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob"]);
    const r = await send(ctx, {
      from: "bob@test.example",
      to: [
        "TestUser181@Remote.Example",
        "testuser181@remote.example",
        "TestUser181@REMOTE.example",
        "BOB@test.example",
      ],
      data: SIMPLE,
      info: session({ clientIp: "127.0.0.1" }),
    });
    assertEquals(r.rcpt.map((x) => x.text.includes("duplicate")), [false, false, true, false]);
    assertEquals(queue.messages[0].to, [
      "TestUser181@remote.example",
      "testuser181@remote.example",
    ]);
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
  } finally {
    await fx.close();
  }
});
