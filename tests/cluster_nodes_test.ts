/**
 * SPEC §12 with three nodes on loopback and one PostgreSQL: a user added on node 1 logs in
 * on node 3 within 1 s (proxied to node 1); mail sent to node 2 for a user homed on node 1
 * is in node 1's Maildir before node 2's 250 (LMTP hand-off); IMAP on node 3 is proxied and
 * SELECT/FETCH/IDLE see deliveries; POP3 on node 2 likewise; with node 1 down its users
 * get 451 4.3.0 at node 2 (others are unaffected), NO [UNAVAILABLE] and -ERR [SYS/TEMP];
 * USER MOVE survives a SIGKILL of the copying node: nothing lost, nothing twice.
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { kv } from "./admin_helper.ts";
import { LineClient } from "./helpers/client.ts";
import {
  admin,
  closeAdminSessions,
  CLUSTER_SECRET,
  imapLogin,
  pop3Login,
  REPLY_MS,
  startNodes,
  timeUntil,
} from "./helpers/cluster.ts";
import { postgresMissing, startPostgres } from "./helpers/postgres.ts";
import { testUnless } from "./helpers/skip.ts";
import { TEST_CERT, type TestServer } from "./helpers/server.ts";
import { ImapFlow } from "imapflow";
import { newNonce, proof } from "../src/cluster/handshake.ts";
import { exists } from "../src/store/fsutil.ts";

const D = "nodes.test";

/** One SMTP transaction; the reply to each RCPT and the final reply (null: no DATA). */
async function sendMail(port: number, rcpts: string[], subject: string) {
  const c = await LineClient.connect(port);
  try {
    await c.readLine(REPLY_MS);
    await c.send("EHLO client.test");
    await c.readUntil((l) => l.startsWith("250 "), REPLY_MS);
    await c.send("MAIL FROM:<sender@remote.test>");
    await c.readLine(REPLY_MS);
    const replies: string[] = [];
    for (const r of rcpts) {
      await c.send(`RCPT TO:<${r}>`);
      replies.push((await c.readLine(REPLY_MS)) ?? "");
    }
    let final: string | null = null;
    if (replies.some((r) => r.startsWith("250"))) {
      await c.send("DATA");
      await c.readLine(REPLY_MS);
      await c.send(
        `From: sender@remote.test\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n.`,
      );
      final = (await c.readLine(REPLY_MS)) ?? "";
    }
    await c.send("QUIT");
    return { replies, final };
  } finally {
    c.close();
  }
}

/** Subjects of the messages in a Maildir folder (new/ and cur/). */
function subjects(folder: string): string[] {
  const out: string[] = [];
  for (const sub of ["new", "cur"]) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(join(folder, sub))];
    } catch {
      continue;
    }
    for (const e of entries) {
      let text;
      try {
        text = Deno.readTextFileSync(join(folder, sub, e.name));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue; // moved from new/ to cur/ meanwhile
        throw err;
      }
      out.push(/^Subject: (.*)$/m.exec(text)?.[1].trim() ?? "?");
    }
  }
  return out.sort();
}

async function userDir(srv: TestServer, name: string): Promise<string> {
  return kv((await admin(srv, `USER SHOW NAME=${name} DOMAIN=${D}`)).data).Dir;
}

testUnless(postgresMissing, {
  name: "cluster: three nodes, LMTP hand-off, proxied IMAP/POP3, a node down, USER MOVE",
  async fn(t) {
    const pg = await startPostgres();
    const url = await pg.createDatabase("nodes");
    const [n1, n2, n3] = await startNodes([url, url, url]);
    try {
      await t.step("a user added on node 1 logs in on node 3 within 1 s", async () => {
        ok((await admin(n3, "STATUS")).ok);
        ok((await admin(n1, `DOMAIN ADD NAME=${D}`)).ok);
        ok((await admin(n1, `USER ADD NAME=alice DOMAIN=${D} PASS=alice-pw-1`)).ok);
        // Polled on the admin port: a refused login is answered after 1 s (SPEC §7).
        const ms = await timeUntil(
          "alice on node 3",
          async () => (await admin(n3, `USER SHOW NAME=alice DOMAIN=${D}`)).ok,
        );
        ok(ms < 1000, `visible on node 3 after ${ms} ms`);
        match(await imapLogin(n3, `alice@${D}`, "alice-pw-1"), /^a1 OK/);
        ok((await admin(n1, `USER ADD NAME=bob DOMAIN=${D} PASS=bob-pw-1 NODE=n2`)).ok);
        await timeUntil(
          "bob on node 2",
          async () => (await admin(n2, `USER SHOW NAME=bob DOMAIN=${D}`)).ok,
        );
      });

      const aliceRoot = await userDir(n1, "alice");
      ok(aliceRoot.startsWith(n1.config.DirBase), aliceRoot);

      await t.step("mail to node 2 is in node 1's Maildir before node 2's 250", async () => {
        const { replies, final } = await sendMail(n2.ports.smtp, [`alice@${D}`], "first");
        match(replies[0], /^250/);
        match(final!, /^250 /);
        // Read right after the 250: the home node answered only once it was stored.
        equal(subjects(aliceRoot).join(","), "first");
        ok(!(await exists(join(n2.config.DirBase, "domains", D))), "nothing stored on node 2");
      });

      await t.step("IMAP on node 3 is proxied: SELECT, FETCH and IDLE see deliveries", async () => {
        const c = await LineClient.connect(n3.ports.imap);
        try {
          match((await c.readLine(REPLY_MS))!, /^\* OK/);
          await c.send(`a1 LOGIN alice@${D} alice-pw-1`);
          const login = await c.readUntil((l) => l.startsWith("a1 "), REPLY_MS);
          match(login.at(-1)!, /^a1 OK \[CAPABILITY .*IDLE/);
          ok(!login.slice(0, -1).some((l) => l.startsWith("* OK")), "no second greeting");
          await c.send("a2 SELECT INBOX");
          const sel = await c.readUntil((l) => l.startsWith("a2 "), REPLY_MS);
          ok(sel.includes("* 1 EXISTS"), sel.join("\n"));
          await c.send("a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
          const f = await c.readUntil((l) => l.startsWith("a3 "), REPLY_MS);
          ok(f.some((l) => l.includes("Subject: first")), f.join("\n"));
          await c.send("a4 IDLE");
          match((await c.readLine(REPLY_MS))!, /^\+ /);
          const sent = await sendMail(n2.ports.smtp, [`alice@${D}`], "second");
          match(sent.final!, /^250 /);
          await c.readUntil((l) => l === "* 2 EXISTS", REPLY_MS);
          await c.send("DONE");
          match((await c.readUntil((l) => l.startsWith("a4 "), REPLY_MS)).at(-1)!, /^a4 OK/);
          await c.send("a5 LOGOUT");
          const bye = await c.readUntil((l) => l.startsWith("a5 "), REPLY_MS);
          ok(bye.some((l) => l.startsWith("* BYE")));
        } finally {
          c.close();
        }
      });

      await t.step("POP3 on node 2 is proxied", async () => {
        const c = await LineClient.connect(n2.ports.pop3);
        try {
          match((await c.readLine(REPLY_MS))!, /^\+OK/);
          await c.send(`USER alice@${D}`);
          await c.readLine(REPLY_MS);
          await c.send("PASS alice-pw-1");
          match((await c.readLine(REPLY_MS))!, /^\+OK alice@nodes\.test has 2 messages/);
          await c.send("STAT");
          match((await c.readLine(REPLY_MS))!, /^\+OK 2 /);
          await c.send("QUIT");
          match((await c.readLine(REPLY_MS))!, /^\+OK/);
        } finally {
          c.close();
        }
      });

      await t.step("USER SHOW on another node asks the home node for the usage", async () => {
        const home = kv((await admin(n1, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Usage;
        match(home, /^[1-9]\d*$/);
        equal(kv((await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Usage, home);
        const list = (await admin(n3, `USER SHOW DOMAIN=${D}`)).data;
        ok(
          list.some((l) => l.startsWith(`alice@${D} `) && l.includes(` Usage=${home} `)),
          list.join("\n"),
        );
        ok(list.some((l) => l.startsWith(`bob@${D} `) && / Usage=\d+ /.test(l)), list.join("\n"));
      });

      await t.step(
        "one autoreply per sender for the site: the record is on the home node",
        async () => {
          ok((await admin(n1, `USER ADD NAME=carol DOMAIN=${D} PASS=carol-pw-1`)).ok);
          ok((await admin(n1, `USER MOD NAME=carol DOMAIN=${D} AUTOREPLY=ON`)).ok);
          for (const n of [n2, n3]) {
            await timeUntil(
              "carol known",
              async () =>
                (await admin(n, `USER SHOW NAME=carol DOMAIN=${D}`)).data.includes("AutoReply=ON"),
            );
          }
          match((await sendMail(n2.ports.smtp, [`carol@${D}`], "away-1")).final!, /^250 /);
          await n2.waitForLog(/autoreply \S+ from carol@nodes\.test to <sender@remote\.test>/);
          match((await sendMail(n3.ports.smtp, [`carol@${D}`], "away-2")).final!, /^250 /);
          await n3.waitForLog(
            /no autoreply from carol@nodes\.test: <sender@remote\.test> answered/,
          );
          ok(!/autoreply \S+ from carol/.test(n3.logs()), "node 3 sent no second answer");
        },
      );

      await t.step("COMPRESS passes through the proxy (imapflow negotiates it)", async () => {
        const client = new ImapFlow({
          host: "127.0.0.1",
          port: n3.ports.imap,
          secure: false,
          auth: { user: `alice@${D}`, pass: "alice-pw-1" },
          tls: { ca: [await Deno.readTextFile(TEST_CERT)] },
          logger: false,
        });
        await client.connect();
        try {
          ok((client as unknown as { _deflate?: unknown })._deflate, "compression is on");
          const lock = await client.getMailboxLock("INBOX");
          try {
            const got: string[] = [];
            for await (const m of client.fetch("1:*", { envelope: true })) {
              got.push(m.envelope?.subject ?? "");
            }
            equal(got.join(","), "first,second");
          } finally {
            lock.release();
          }
        } finally {
          await client.logout();
        }
      });

      await t.step(
        "PortCluster: a wrong secret is refused; LMTP replies per recipient",
        async () => {
          const port = n1.config.PortCluster;
          const rogue = await LineClient.connect(port, { tls: true });
          try {
            const g = /^220 n1 extremail-cluster ([0-9a-f]{48})$/.exec(
              (await rogue.readLine(REPLY_MS))!,
            );
            ok(g, "greeting");
            const nonce = newNonce();
            await rogue.send(
              `NODE n2 ${nonce} ${proof("not-the-secret-000000", "client", g[1], nonce, "n2")}`,
            );
            match((await rogue.readLine(REPLY_MS))!, /^535 5\.7\.8 /);
          } finally {
            rogue.close();
          }
          const c = await LineClient.connect(port, { tls: true });
          try {
            const g = /^220 n1 extremail-cluster ([0-9a-f]{48})$/.exec(
              (await c.readLine(REPLY_MS))!,
            )!;
            const nonce = newNonce();
            await c.send(`NODE n2 ${nonce} ${proof(CLUSTER_SECRET, "client", g[1], nonce, "n2")}`);
            equal(
              await c.readLine(REPLY_MS),
              `250 ${proof(CLUSTER_SECRET, "server", g[1], nonce, "n1")}`,
            );
            await c.send("LMTP");
            match((await c.readLine(REPLY_MS))!, /^220 /);
            await c.send("LHLO n2");
            await c.readUntil((l) => l.startsWith("250 "), REPLY_MS);
            await c.send("MAIL FROM:<lmtp@remote.test>");
            match((await c.readLine(REPLY_MS))!, /^250 /);
            await c.send(`RCPT TO:<alice@${D}>`);
            match((await c.readLine(REPLY_MS))!, /^250 /);
            await c.send(`RCPT TO:<nobody@${D}>`);
            match((await c.readLine(REPLY_MS))!, /^550 5\.1\.1 /);
            await c.send(`RCPT TO:<bob@${D}>`);
            match((await c.readLine(REPLY_MS))!, /^451 4\.3\.0 .*not homed on this node/);
            await c.send("DATA");
            match((await c.readLine(REPLY_MS))!, /^354 /);
            await c.send("Subject: by-lmtp\r\n\r\n..dot line\r\n.");
            // RFC 2033 §4.2: one reply per accepted recipient: here exactly one.
            match((await c.readLine(REPLY_MS))!, /^250 2\.0\.0 <alice@nodes\.test>: delivered/);
            await c.send("NOOP");
            match((await c.readLine(REPLY_MS))!, /^250 /);
            await c.send("QUIT");
            await c.readLine(REPLY_MS);
          } finally {
            c.close();
          }
          equal(subjects(aliceRoot).join(","), "by-lmtp,first,second");
        },
      );

      await t.step("the home node's QUOTA refusal reaches the sender at node 2", async () => {
        ok((await admin(n1, `USER ADD NAME=tiny DOMAIN=${D} PASS=tiny-pw-1 QUOTA=100`)).ok);
        await timeUntil(
          "tiny on node 2",
          async () => (await admin(n2, `USER SHOW NAME=tiny DOMAIN=${D}`)).ok,
        );
        // Node 2 does not know tiny's usage: RCPT is accepted, node 1 refuses the copy.
        const { replies, final } = await sendMail(n2.ports.smtp, [`tiny@${D}`], "too-big");
        match(replies[0], /^250/);
        match(final!, /^552 5\.2\.2 /);
        // With another recipient the message is accepted and the sender gets a DSN.
        const both = await sendMail(n2.ports.smtp, [`tiny@${D}`, `bob@${D}`], "one-of-two");
        match(both.final!, /^250 /);
        equal(subjects(await userDir(n2, "bob")).join(","), "one-of-two");
        ok((await admin(n1, `USER DEL NAME=tiny DOMAIN=${D}`)).ok);
      });

      await t.step(
        "node 1 down: 451 4.3.0 for its users at node 2, others unaffected",
        async () => {
          await n1.stop();
          try {
            const { replies, final } = await sendMail(
              n2.ports.smtp,
              [`alice@${D}`, `bob@${D}`],
              "while-down",
            );
            match(replies[0], /^451 4\.3\.0 /);
            match(replies[1], /^250/);
            match(final!, /^250 /);
            equal(subjects(join(await userDir(n2, "bob"))).join(","), "one-of-two,while-down");
            match(await imapLogin(n3, `alice@${D}`, "alice-pw-1"), /^a1 NO \[UNAVAILABLE\]/);
            match(await pop3Login(n3, `alice@${D}`, "alice-pw-1"), /^-ERR \[SYS\/TEMP\]/);
            match(await pop3Login(n3, `bob@${D}`, "bob-pw-1"), /^\+OK/);
            // Its users' usage is not known, and USER SHOW still answers.
            equal(kv((await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Usage, "unknown");
          } finally {
            await n1.restart();
            closeAdminSessions(); // node 1's admin session ended with its process
          }
        },
      );

      await t.step("USER MOVE, the copying node SIGKILLed in the copy", async () => {
        // 300 messages more, written straight into alice's Maildir on node 1.
        const inbox = join(aliceRoot, "new");
        for (let i = 0; i < 300; i++) {
          const body = `From: bulk@remote.test\r\nSubject: bulk-${i}\r\n\r\n${
            "x".repeat(2000)
          }\r\n`;
          await Deno.writeTextFile(join(inbox, `1700000000.M${i}P1.test,S=${body.length}`), body);
        }
        const before = subjects(aliceRoot);
        equal(before.length, 303);
        const target = join(n3.config.DirBase, aliceRoot.slice(n1.config.DirBase.length));
        const moving = admin(n2, `USER MOVE NAME=alice DOMAIN=${D} NODE=n3`).catch(asReply);
        // Killed once the first copied messages are on node 3 (the switch waits for the
        // whole copy, so the journal says "copy", or "switched" on a very slow machine).
        await timeUntil(
          "copy under way",
          () => Promise.resolve(subjects(target).length > 0),
          REPLY_MS,
        );
        await n1.kill();
        match((await moving).status, /^-ERR USER MOVE of alice@nodes\.test to n3 did not finish/);
        await n1.restart();
        closeAdminSessions(); // node 1's admin session ended with its process
        // The journal makes node 1 go on by itself.
        await n1.waitForLog(
          /resuming USER MOVE of alice@nodes\.test to n3 \((copy|switched)\)/,
          REPLY_MS,
        );
        await n1.waitForLog(/USER MOVE of alice@nodes\.test finished/, REPLY_MS);
        equal(kv((await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Node, "n3");
        const newRoot = await userDir(n3, "alice");
        equal(newRoot, target);
        ok(!(await exists(aliceRoot)), "the old copy is removed");
        equal(subjects(newRoot).join("\n"), before.join("\n"), "every message once");
        // Asked again: already there.
        match(
          (await admin(n1, `USER MOVE NAME=alice DOMAIN=${D} NODE=n3`)).status,
          /already on node n3/,
        );
        // Served from node 3 now, through node 2; UIDs came along.
        const c = await LineClient.connect(n2.ports.imap);
        try {
          await c.readLine(REPLY_MS);
          await c.send(`a1 LOGIN alice@${D} alice-pw-1`);
          match((await c.readUntil((l) => l.startsWith("a1 "), REPLY_MS)).at(-1)!, /^a1 OK/);
          await c.send("a2 SELECT INBOX");
          ok((await c.readUntil((l) => l.startsWith("a2 "), REPLY_MS)).includes("* 303 EXISTS"));
          await c.send("a3 UID FETCH 1:3 (FLAGS)");
          const f = await c.readUntil((l) => l.startsWith("a3 "), REPLY_MS);
          ok(f.some((l) => /^\* 1 FETCH .*UID 1\b/.test(l)), f.join("\n"));
          await c.send("a4 LOGOUT");
          await c.readUntil((l) => l.startsWith("a4 "), REPLY_MS);
        } finally {
          c.close();
        }
        // New mail goes to node 3 at once.
        match((await sendMail(n1.ports.smtp, [`alice@${D}`], "after-move")).final!, /^250 /);
        ok(subjects(newRoot).includes("after-move"));
      });

      await t.step("USER MOVE, the copying node SIGKILLed after the switch", async () => {
        const from = await userDir(n3, "alice");
        const before = subjects(from);
        const moving = admin(n1, `USER MOVE NAME=alice DOMAIN=${D} NODE=n2`).catch(asReply);
        await n3.waitForLog(/USER MOVE alice@nodes\.test: home is now n2/, REPLY_MS);
        await n3.kill();
        match((await moving).status, /^-ERR /);
        ok(await exists(from), "the old copy is still there");
        await n3.restart();
        closeAdminSessions();
        await n3.waitForLog(/resuming USER MOVE of alice@nodes\.test to n2 \(switched\)/, REPLY_MS);
        await n3.waitForLog(/USER MOVE of alice@nodes\.test finished/, REPLY_MS);
        ok(!(await exists(from)), "the old copy is removed");
        const root = await userDir(n2, "alice");
        equal(subjects(root).join("\n"), before.join("\n"), "every message once");
        match(await pop3Login(n3, `alice@${D}`, "alice-pw-1"), /^\+OK alice@nodes\.test has 304 /);
      });

      await t.step("DOMAIN DEL on node 3: the home nodes delete their users' mail", async () => {
        const roots = [await userDir(n2, "alice"), await userDir(n2, "bob")];
        ok(roots.every((r) => r.startsWith(n2.config.DirBase)));
        match((await admin(n3, `DOMAIN DEL NAME=${D}`)).status, /^\+OK domain nodes\.test deleted/);
        for (const r of roots) ok(!(await exists(r)), `${r} removed`);
      });
    } finally {
      closeAdminSessions();
      for (const n of [n1, n2, n3]) await n.stop();
      await pg.remove();
      for (const n of [n1, n2, n3]) await Deno.remove(n.dirBase, { recursive: true });
    }
  },
});

/** A command whose session died with the node: its error as a refusal. */
function asReply(e: unknown) {
  return { ok: false, status: `-ERR ${(e as Error).message}`, data: [] as string[] };
}
