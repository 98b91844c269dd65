/** SPEC §5 size limits in-process: QUOTA (552 5.2.2), MAXIN and MAXOUT (552 5.3.4), MaxMailSize. */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { fixture, message, send, session, SIMPLE, text, users } from "./delivery_fixture.ts";

const big = (n: number) =>
  message({ From: "x@remote.example", Subject: "big" }, "x".repeat(n) + "\r\n");

Deno.test("QUOTA at RCPT when SIZE is given, else at the end of DATA", async () => {
  const fx = await fixture();
  try {
    const { ctx } = fx;
    await users(ctx, ["bob"]);
    await ctx.directory.modUser("bob", "test.example", { quota: 2000 });
    const atRcpt = await send(ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: big(3000),
      params: { size: 3000 },
    });
    match(atRcpt.rcpt[0].toString(), /^552 5\.2\.2 /);
    equal(atRcpt.data, null);
    const atData = await send(ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: big(3000),
    });
    equal(atData.rcpt[0].code, 250);
    match(atData.data!.toString(), /^552 5\.2\.2 /);
    // Usage counts: a first message fits, the second would pass the quota.
    equal(
      (await send(ctx, { from: "x@remote.example", to: ["bob@test.example"], data: big(900) }))
        .data!.code,
      250,
    );
    match(
      (await send(ctx, { from: "x@remote.example", to: ["bob@test.example"], data: big(900) }))
        .data!.toString(),
      /^552 5\.2\.2 /,
    );
    match(
      (await send(ctx, {
        from: "x@remote.example",
        to: ["bob@test.example"],
        data: big(900),
        params: { size: 950 },
      })).rcpt[0].toString(),
      /^552 5\.2\.2 /,
    );
    assertEquals((await fx.inbox("bob", "test.example")).length, 1);
    equal(ctx.stats.received, 1);
  } finally {
    await fx.close();
  }
});

Deno.test("over quota for some recipients at DATA: the rest get it, the sender a DSN", async () => {
  const fx = await fixture();
  try {
    const { ctx, queue } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.modUser("bob", "test.example", { quota: 1000 });
    const r = await send(ctx, {
      from: "alice@remote.example",
      to: ["bob@test.example", "carol@test.example"],
      data: big(2000),
    });
    equal(r.data!.code, 250);
    assertEquals((await fx.inbox("bob", "test.example")).length, 0);
    assertEquals((await fx.inbox("carol", "test.example")).length, 1);
    assertEquals(queue.messages.length, 1);
    const dsn = queue.messages[0];
    assertEquals([dsn.from, dsn.to], ["", ["alice@remote.example"]]);
    const t = text(dsn.data);
    match(t, /Final-Recipient: rfc822; bob@test\.example\r\nAction: failed\r\nStatus: 5\.2\.2\r\n/);
    match(
      t,
      /Content-Type: text\/rfc822-headers\r\n\r\nFrom: x@remote\.example\r\nSubject: big\r\n\r\n--/,
    );
    equal(ctx.stats.bounced, 1);

    // A local sender's DSN lands in her mailbox; a null sender gets none.
    await send(ctx, {
      from: "carol@test.example",
      to: ["bob@test.example", "carol@test.example"],
      data: big(2000),
    });
    const carol = await fx.inbox("carol", "test.example");
    equal(carol.length, 3);
    ok(carol.some((m) => m.includes("Status: 5.2.2")));
    await send(ctx, { from: "", to: ["bob@test.example", "carol@test.example"], data: big(2000) });
    assertEquals(queue.messages.length, 1);
  } finally {
    await fx.close();
  }
});

Deno.test("MAXIN and MAXOUT: 552 5.3.4 at MAIL/RCPT with SIZE and at DATA", async () => {
  const fx = await fixture();
  try {
    const { ctx } = fx;
    await users(ctx, ["bob", "carol"]);
    await ctx.directory.modUser("bob", "test.example", { maxIn: 1000 });
    await ctx.directory.modUser("carol", "test.example", { maxOut: 1000, password: "pw" });
    const inRcpt = await send(ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: big(2000),
      params: { size: 2000 },
    });
    match(inRcpt.rcpt[0].toString(), /^552 5\.3\.4 /);
    const inData = await send(ctx, {
      from: "x@remote.example",
      to: ["bob@test.example"],
      data: big(2000),
    });
    match(inData.data!.toString(), /^552 5\.3\.4 /);
    equal(
      (await send(ctx, { from: "x@remote.example", to: ["bob@test.example"], data: big(500) }))
        .data!.code,
      250,
    );

    const carol = ctx.directory.getUser("carol", "test.example")!;
    const auth = session({ service: "submission", authUser: carol });
    const outMail = await send(ctx, {
      from: "carol@test.example",
      to: ["x@remote.example"],
      data: big(2000),
      info: auth,
      params: { size: 2000 },
    });
    match(outMail.mail!.toString(), /^552 5\.3\.4 /);
    const outData = await send(ctx, {
      from: "carol@test.example",
      to: ["x@remote.example"],
      data: big(2000),
      info: auth,
    });
    match(outData.data!.toString(), /^552 5\.3\.4 /);
    // The envelope sender's MAXOUT also holds without AUTH (a trusted-network client).
    const trusted = await send(ctx, {
      from: "carol@test.example",
      to: ["bob@test.example"],
      data: big(500),
      info: session({ clientIp: "127.0.0.1" }),
      params: { size: 1500 },
    });
    match(trusted.mail!.toString(), /^552 5\.3\.4 /);
    equal(
      (await send(ctx, {
        from: "carol@test.example",
        to: ["x@remote.example"],
        data: big(500),
        info: auth,
      })).data!.code,
      250,
    );
  } finally {
    await fx.close();
  }
});

Deno.test("MaxMailSize: SIZE at MAIL and the data itself", async () => {
  const fx = await fixture({ MaxMailSize: 1000 });
  try {
    await users(fx.ctx, ["bob"]);
    match(
      (await send(fx.ctx, {
        from: "x@remote.example",
        to: ["bob@test.example"],
        data: SIMPLE,
        params: { size: 1001 },
      })).mail!.toString(),
      /^552 5\.3\.4 /,
    );
    match(
      (await send(fx.ctx, { from: "x@remote.example", to: ["bob@test.example"], data: big(1200) }))
        .data!.toString(),
      /^552 5\.3\.4 /,
    );
  } finally {
    await fx.close();
  }
});
