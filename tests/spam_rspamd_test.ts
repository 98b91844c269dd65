/**
 * SPEC §9 spam filtering through the mail pipeline against a real rspamd (Debian's
 * package, tests/helpers/rspamd.ts): its GTUBE patterns drive each action (reject -> 550,
 * add header and rewrite subject -> Junk with X-Spam headers, soft reject -> 451, clean ->
 * INBOX with a score header); trusted clients are not filtered; a large message is
 * streamed from its spool file; an rspamd that is down or silent gets SpamFilterFailure.
 */
import net from "node:net";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { freePort } from "./helpers/server.ts";
import { testUnless } from "./helpers/skip.ts";
import {
  GTUBE,
  rspamdMissing,
  SOFT_REJECT_SUBJECT,
  startRspamd,
  type TestRspamd,
} from "./helpers/rspamd.ts";
import { type Fixture, fixture, message, send, session, text, users } from "./delivery_fixture.ts";
import type { Config } from "../src/config/schema.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";

const mail = (subject: string, body: string, extra: Record<string, string> = {}) =>
  message({
    From: "Alice <alice@remote.example>",
    To: "bob@test.example",
    Subject: subject,
    "Message-ID": `<${crypto.randomUUID()}@remote.example>`,
    ...extra,
  }, `${body}\r\n`);

async function folder(fx: Fixture, name: string): Promise<string[]> {
  const user = fx.ctx.directory.getUser("bob", "test.example")!;
  const f = await fx.ctx.store.openFolder(fx.ctx.store.userRoot(user), name);
  const out: string[] = [];
  for (const m of f?.messages.values() ?? []) out.push(text(await f!.read(m)));
  return out;
}

async function withFixture(
  config: Partial<Config>,
  fn: (fx: Fixture) => Promise<void>,
): Promise<void> {
  const fx = await fixture(config);
  try {
    await users(fx.ctx, ["bob"]);
    await fn(fx);
  } finally {
    await fx.close();
  }
}

/** The header block of a stored message. */
const headerOf = (stored: string) => stored.slice(0, stored.indexOf("\r\n\r\n") + 2);

testUnless(rspamdMissing, {
  name: "spam: rspamd's actions decide 550, 451, Junk or INBOX, with its headers",
  async fn(t) {
    const rspamd: TestRspamd = await startRspamd();
    try {
      await withFixture({ SpamFilter: rspamd.filter }, async (fx) => {
        const { ctx } = fx;
        const to = ["bob@test.example"];
        const from = "alice@remote.example";

        await t.step("reject -> 550 5.7.1, nothing stored", async () => {
          const r = await send(ctx, { from, to, data: mail("offer", GTUBE.reject) });
          assertEquals([r.data?.code, r.data?.enhanced], [550, "5.7.1"]);
          assertMatch(r.data!.text, /spam/);
          assertEquals((await fx.inbox("bob", "test.example")).length, 0);
          assertEquals((await folder(fx, "Junk")).length, 0);
        });

        await t.step("soft reject -> 451 4.7.1", async () => {
          const r = await send(ctx, { from, to, data: mail(SOFT_REJECT_SUBJECT, "Hi.") });
          assertEquals([r.data?.code, r.data?.enhanced], [451, "4.7.1"]);
        });

        await t.step("add header -> Junk with X-Spam and X-Spamd-Result", async () => {
          const r = await send(ctx, { from, to, data: mail("deal", GTUBE.addHeader) });
          assertEquals(r.data?.code, 250);
          assertEquals((await fx.inbox("bob", "test.example")).length, 0);
          const junk = await folder(fx, "Junk");
          assertEquals(junk.length, 1);
          const head = headerOf(junk[0]);
          assertMatch(
            head,
            /^Return-Path: <alice@remote\.example>\r\nX-Spamd-Result: default: True/,
          );
          assertMatch(
            head,
            /\r\nX-Spamd-Result: default: True \[6\.00 \/ 15\.00\]; GTUBE\(0\.00\)/,
          );
          assertMatch(head, /\r\nX-Spam: Yes\r\n/);
          assertMatch(head, /\r\nX-Rspamd-Action: add header\r\n/);
          assertMatch(head, /\r\nSubject: deal\r\n/);
        });

        await t.step("Junk deleted by the user is made again", async () => {
          const root = ctx.store.userRoot(ctx.directory.getUser("bob", "test.example")!);
          const saved = await folder(fx, "Junk");
          await ctx.store.deleteFolder(root, "Junk");
          const r = await send(ctx, { from, to, data: mail("again", GTUBE.addHeader) });
          assertEquals(r.data?.code, 250);
          const junk = await folder(fx, "Junk");
          assertEquals(junk.length, 1);
          assertMatch(junk[0], /\r\nSubject: again\r\n/);
          // Put the first one back for the counts below.
          await ctx.store.append(root, "Junk", new TextEncoder().encode(saved[0]));
        });

        await t.step("rewrite subject -> Junk with rspamd's Subject, only one", async () => {
          const r = await send(ctx, { from, to, data: mail("great news", GTUBE.rewriteSubject) });
          assertEquals(r.data?.code, 250);
          const junk = await folder(fx, "Junk");
          assertEquals(junk.length, 3);
          const head = headerOf(junk[2]);
          assertEquals(head.match(/^Subject:/gm)?.length, 1);
          assertMatch(head, /\r\nSubject: \*\*\* SPAM \*\*\* great news\r\n/);
          assertMatch(head, /\r\nX-Spam: Yes\r\n/);
        });

        await t.step(
          "no action -> INBOX with the score header; forged fields removed",
          async () => {
            const data = mail("lunch", "See you at noon.", {
              "X-Spam": "No",
              "X-Spamd-Result": "default: False [-100.00 / 15.00]",
            });
            const r = await send(ctx, { from, to, data });
            assertEquals(r.data?.code, 250);
            const inbox = await fx.inbox("bob", "test.example");
            assertEquals(inbox.length, 1);
            const head = headerOf(inbox[0]);
            assertMatch(head, /\r\nX-Spamd-Result: default: False \[0\.00 \/ 15\.00\]\r\n/);
            assertMatch(head, /\r\nX-Rspamd-Score: 0\.00\r\n/);
            assertEquals(head.match(/^X-Spamd-Result:/gm)?.length, 1, "the sender's one is gone");
            assert(!/^X-Spam:/m.test(head), "no X-Spam on clean mail, the forged one removed");
          },
        );

        await t.step("a message spooled to a file is streamed to rspamd", async () => {
          // A 2 MiB attachment before the text part with the pattern: the spool file holds
          // most of it (SPEC §7), and rspamd only sees the pattern if every octet arrives
          // (it looks for GTUBE in small text parts only, hence the attachment).
          const filler = ("QUJD".repeat(19) + "\r\n").repeat(27_000);
          const body = [
            "--b1",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            "",
            filler + "--b1",
            "Content-Type: text/plain",
            "",
            GTUBE.addHeader,
            "--b1--",
          ].join("\r\n");
          const r = await send(ctx, {
            from,
            to,
            data: mail("big", body, {
              "MIME-Version": "1.0",
              "Content-Type": 'multipart/mixed; boundary="b1"',
            }),
          });
          assertEquals(r.data?.code, 250);
          const junk = await folder(fx, "Junk");
          assertEquals(junk.length, 4);
          assert(junk[3].length > 2_000_000);
          assertMatch(headerOf(junk[3]), /\r\nX-Spam: Yes\r\n/);
        });

        await t.step("authenticated and LocalIP clients are not filtered", async () => {
          const bob = ctx.directory.getUser("bob", "test.example")!;
          const before = (await fx.inbox("bob", "test.example")).length;
          for (const info of [session({ authUser: bob }), session({ clientIp: "127.0.0.1" })]) {
            const r = await send(ctx, { from, to, data: mail("mine", GTUBE.reject), info });
            assertEquals(r.data?.code, 250);
          }
          const inbox = await fx.inbox("bob", "test.example");
          assertEquals(inbox.length, before + 2);
          assert(!/X-Spamd-Result/.test(headerOf(inbox[before])));
        });

        await t.step("verdicts are counted per action (SPEC §10)", () => {
          const v = (action: string) => ctx.metrics.spamVerdicts.get({ action });
          assertEquals(
            [v("reject"), v("soft_reject"), v("add_header"), v("rewrite_subject"), v("no_action")],
            [1, 1, 3, 1, 1],
          );
        });
      });

      await t.step("SpamFilterTrusted = true filters authenticated clients too", async () => {
        await withFixture({ SpamFilter: rspamd.filter, SpamFilterTrusted: true }, async (fx) => {
          const bob = fx.ctx.directory.getUser("bob", "test.example")!;
          const r = await send(fx.ctx, {
            from: "bob@test.example",
            to: ["bob@test.example"],
            data: mail("mine", GTUBE.reject),
            info: session({ authUser: bob }),
          });
          assertEquals(r.data?.code, 550);
        });
      });
      assertMatch(await rspamd.log(), /GTUBE|gtube/i);

      await t.step(
        "rspamd stopped -> SpamFilterFailure (tempfail: 451, accept: INBOX)",
        async () => {
          const tempfail = await fixture({
            SpamFilter: rspamd.filter,
            SpamFilterFailure: "tempfail",
          });
          const accept = await fixture({ SpamFilter: rspamd.filter });
          try {
            const from = "alice@remote.example", to = ["bob@test.example"];
            for (const fx of [tempfail, accept]) await users(fx.ctx, ["bob"]);
            const before = await send(tempfail.ctx, { from, to, data: mail("hi", "Hello.") });
            assertEquals(before.data?.code, 250, "rspamd still running");
            await rspamd.stop();
            const after = await send(tempfail.ctx, { from, to, data: mail("hi", "Hello.") });
            assertEquals([after.data?.code, after.data?.enhanced], [451, "4.7.1"]);
            const accepted = await send(accept.ctx, { from, to, data: mail("hi", GTUBE.reject) });
            assertEquals(accepted.data?.code, 250);
            const inbox = await accept.inbox("bob", "test.example");
            assertEquals(inbox.length, 1);
            assert(!/X-Spamd-Result/.test(headerOf(inbox[0])), "delivered unchecked");
          } finally {
            await tempfail.close();
            await accept.close();
          }
        },
      );
    } finally {
      await rspamd.stop();
    }
  },
});

Deno.test("spam: rspamd down or silent -> SpamFilterFailure accept (logged) or tempfail 451", async () => {
  const closed = freePort();
  // A filter that accepts connections and never answers: TimeoutSpamFilter runs out.
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  silent.on("connection", (s) => sockets.push(s));
  try {
    const from = "alice@remote.example", to = ["bob@test.example"];
    await withFixture({ SpamFilter: `rspamd:http://127.0.0.1:${closed}` }, async (fx) => {
      const r = await send(fx.ctx, { from, to, data: mail("hi", GTUBE.reject) });
      assertEquals(r.data?.code, 250, "accept: delivered unchecked");
      const inbox = await fx.inbox("bob", "test.example");
      assertEquals(inbox.length, 1);
      assert(!/X-Spamd-Result/.test(headerOf(inbox[0])));
    });
    await withFixture({
      SpamFilter: `rspamd:http://127.0.0.1:${closed}`,
      SpamFilterFailure: "tempfail",
    }, async (fx) => {
      const r = await send(fx.ctx, { from, to, data: mail("hi", "Hello.") });
      assertEquals([r.data?.code, r.data?.enhanced], [451, "4.7.1"]);
      assertEquals((await fx.inbox("bob", "test.example")).length, 0);
    });
    await withFixture({
      SpamFilter: `rspamd:http://127.0.0.1:${silentPort}`,
      SpamFilterFailure: "tempfail",
      TimeoutSpamFilter: 1,
    }, async (fx) => {
      const started = Date.now();
      const r = await send(fx.ctx, { from, to, data: mail("hi", "Hello.") });
      assertEquals([r.data?.code, r.data?.enhanced], [451, "4.7.1"]);
      assert(Date.now() - started < 15_000, "TimeoutSpamFilter bounds the wait");
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

testUnless(rspamdMissing, {
  name: "spam: with InboundAuth the Authentication-Results header stays on top, rspamd's below",
  async fn() {
    const rspamd: TestRspamd = await startRspamd();
    const dns = await startFakeDns();
    try {
      dns.txt("remote.example", "v=spf1 -all");
      const config = { SpamFilter: rspamd.filter, InboundAuth: "tag", DNSServer: [dns.server] };
      await withFixture(config as Partial<Config>, async (fx) => {
        const from = "alice@remote.example";
        const r = await send(fx.ctx, {
          from,
          to: ["bob@test.example"],
          data: mail("deal", GTUBE.addHeader),
        });
        assertEquals(r.data?.code, 250);
        const head = headerOf((await folder(fx, "Junk"))[0]);
        // SPEC §8: one Authentication-Results at the top (under Return-Path).
        assertMatch(head, /^Return-Path: <[^>]*>\r\nAuthentication-Results: /);
        assert(head.indexOf("\r\nAuthentication-Results: ") < head.indexOf("\r\nX-Spamd-Result: "));
      });
    } finally {
      dns.close();
      await rspamd.stop();
    }
  },
});
