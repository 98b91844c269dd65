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
  imapLogin,
  pop3Login,
  startNodes,
  timeUntil,
} from "./helpers/cluster.ts";
import { postgresMissing, startPostgres } from "./helpers/postgres.ts";
import { testUnless } from "./helpers/skip.ts";
import type { TestServer } from "./helpers/server.ts";

const D = "nodes.test";

/** One SMTP transaction; the reply to each RCPT and the final reply (null: no DATA). */
async function sendMail(port: number, rcpts: string[], subject: string) {
  const c = await LineClient.connect(port);
  try {
    await c.readLine();
    await c.send("EHLO client.test");
    await c.readUntil((l) => l.startsWith("250 "));
    await c.send("MAIL FROM:<sender@remote.test>");
    await c.readLine();
    const replies: string[] = [];
    for (const r of rcpts) {
      await c.send(`RCPT TO:<${r}>`);
      replies.push((await c.readLine()) ?? "");
    }
    let final: string | null = null;
    if (replies.some((r) => r.startsWith("250"))) {
      await c.send("DATA");
      await c.readLine();
      await c.send(
        `From: sender@remote.test\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n.`,
      );
      final = (await c.readLine(30_000)) ?? "";
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
      const text = Deno.readTextFileSync(join(folder, sub, e.name));
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
          match((await c.readLine())!, /^\* OK/);
          await c.send(`a1 LOGIN alice@${D} alice-pw-1`);
          const login = await c.readUntil((l) => l.startsWith("a1 "));
          match(login.at(-1)!, /^a1 OK \[CAPABILITY .*IDLE/);
          ok(!login.slice(0, -1).some((l) => l.startsWith("* OK")), "no second greeting");
          await c.send("a2 SELECT INBOX");
          const sel = await c.readUntil((l) => l.startsWith("a2 "));
          ok(sel.includes("* 1 EXISTS"), sel.join("\n"));
          await c.send("a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
          const f = await c.readUntil((l) => l.startsWith("a3 "));
          ok(f.some((l) => l.includes("Subject: first")), f.join("\n"));
          await c.send("a4 IDLE");
          match((await c.readLine())!, /^\+ /);
          const sent = await sendMail(n2.ports.smtp, [`alice@${D}`], "second");
          match(sent.final!, /^250 /);
          await c.readUntil((l) => l === "* 2 EXISTS", 15_000);
          await c.send("DONE");
          match((await c.readUntil((l) => l.startsWith("a4 "))).at(-1)!, /^a4 OK/);
          await c.send("a5 LOGOUT");
          const bye = await c.readUntil((l) => l.startsWith("a5 "));
          ok(bye.some((l) => l.startsWith("* BYE")));
        } finally {
          c.close();
        }
      });

      await t.step("POP3 on node 2 is proxied", async () => {
        const c = await LineClient.connect(n2.ports.pop3);
        try {
          match((await c.readLine())!, /^\+OK/);
          await c.send(`USER alice@${D}`);
          await c.readLine();
          await c.send("PASS alice-pw-1");
          match((await c.readLine())!, /^\+OK alice@nodes\.test has 2 messages/);
          await c.send("STAT");
          match((await c.readLine())!, /^\+OK 2 /);
          await c.send("QUIT");
          match((await c.readLine())!, /^\+OK/);
        } finally {
          c.close();
        }
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
            equal(subjects(join(await userDir(n2, "bob"))).join(","), "while-down");
            match(await imapLogin(n3, `alice@${D}`, "alice-pw-1"), /^a1 NO \[UNAVAILABLE\]/);
            match(await pop3Login(n3, `alice@${D}`, "alice-pw-1"), /^-ERR \[SYS\/TEMP\]/);
            match(await pop3Login(n3, `bob@${D}`, "bob-pw-1"), /^\+OK/);
          } finally {
            await n1.restart();
            closeAdminSessions(); // node 1's admin session ended with its process
          }
        },
      );

      await t.step(
        "USER MOVE with the copying node SIGKILLed: nothing lost, nothing twice",
        async () => {
          // 300 messages more, written straight into alice's Maildir on node 1.
          const inbox = join(aliceRoot, "new");
          for (let i = 0; i < 300; i++) {
            const body = `From: bulk@remote.test\r\nSubject: bulk-${i}\r\n\r\n${
              "x".repeat(2000)
            }\r\n`;
            await Deno.writeTextFile(join(inbox, `1700000000.M${i}P1.test,S=${body.length}`), body);
          }
          const before = subjects(aliceRoot);
          equal(before.length, 302);
          const moving = admin(n2, `USER MOVE NAME=alice DOMAIN=${D} NODE=n3`);
          await n1.waitForLog(/USER MOVE alice@nodes\.test to n3: copying/, 15_000);
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
          await n1.kill();
          const interrupted = await moving;
          await n1.restart();
          closeAdminSessions(); // node 1's admin session ended with its process
          // The journal makes node 1 finish by itself; asking again joins or confirms it.
          const again = await admin(n1, `USER MOVE NAME=alice DOMAIN=${D} NODE=n3`);
          ok(again.ok, `${interrupted.status} / ${again.status}`);
          await timeUntil(
            "alice homed on node 3 everywhere",
            async () =>
              kv((await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Node === "n3",
          );
          const newRoot = await userDir(n3, "alice");
          ok(newRoot.startsWith(n3.config.DirBase), newRoot);
          await timeUntil("old copy removed", async () => !(await exists(aliceRoot)), 15_000);
          equal(subjects(newRoot).join("\n"), before.join("\n"), "every message once");
          // Served from node 3 now, through node 2.
          const c = await LineClient.connect(n2.ports.imap);
          try {
            await c.readLine();
            await c.send(`a1 LOGIN alice@${D} alice-pw-1`);
            match((await c.readUntil((l) => l.startsWith("a1 "))).at(-1)!, /^a1 OK/);
            await c.send("a2 SELECT INBOX");
            ok((await c.readUntil((l) => l.startsWith("a2 "))).includes("* 302 EXISTS"));
            await c.send("a3 LOGOUT");
            await c.readUntil((l) => l.startsWith("a3 "));
          } finally {
            c.close();
          }
          // New mail goes to node 3 at once.
          match((await sendMail(n1.ports.smtp, [`alice@${D}`], "after-move")).final!, /^250 /);
          ok(subjects(newRoot).includes("after-move"));
        },
      );
    } finally {
      closeAdminSessions();
      for (const n of [n1, n2, n3]) await n.stop();
      await pg.remove();
      for (const n of [n1, n2, n3]) await Deno.remove(n.dirBase, { recursive: true });
    }
  },
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
