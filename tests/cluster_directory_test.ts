/**
 * SPEC §12: two daemons (two DirBases) on one real PostgreSQL directory. A change made on
 * either node is durable at its +OK, visible there at once and on the other node within
 * 1 s; DKIM keys and the SRS secret are shared; a node cut off from PostgreSQL goes on
 * serving from its mirror, refuses admin writes with a clear -ERR and reads everything
 * again when the connection is back.
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
  REPLY_MS,
  startNodes,
  timeUntil,
} from "./helpers/cluster.ts";
import { postgresMissing, startPostgres } from "./helpers/postgres.ts";
import { testUnless } from "./helpers/skip.ts";
import { startTcpProxy } from "./helpers/tcp_proxy.ts";

const D = "cluster.test";

async function smtpGreeting(port: number): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    return (await c.readLine()) ?? "";
  } finally {
    c.close();
  }
}

async function rcptReply(port: number, rcpt: string): Promise<string> {
  const c = await LineClient.connect(port);
  try {
    await c.readLine();
    await c.send("EHLO client.test");
    await c.readUntil((l) => l.startsWith("250 "));
    await c.send("MAIL FROM:<someone@remote.test>");
    await c.readLine();
    await c.send(`RCPT TO:<${rcpt}>`);
    const reply = (await c.readLine()) ?? "";
    await c.send("QUIT");
    return reply;
  } finally {
    c.close();
  }
}

testUnless(postgresMissing, {
  name: "cluster: two nodes share a PostgreSQL directory",
  async fn(t) {
    const pg = await startPostgres();
    const url = await pg.createDatabase("directory");
    // Node 2 reaches PostgreSQL through a proxy that the test can cut.
    const proxy = await startTcpProxy(pg.port);
    const [n1, n2] = await startNodes([url, pg.url("directory", proxy.port)]);
    const seen = (srv: typeof n1, line: string) => async () => (await admin(srv, line)).ok;
    try {
      await t.step("a user added on node 1 logs in on node 2 within 1 s", async () => {
        ok((await admin(n2, "STATUS")).ok); // its admin session is open before the clock starts
        ok((await admin(n1, `DOMAIN ADD NAME=${D}`)).ok);
        const added = await admin(n1, `USER ADD NAME=alice DOMAIN=${D} PASS=alice-pw-1`);
        ok(added.ok, added.status);
        const ms = await timeUntil("alice on node 2", seen(n2, `USER SHOW NAME=alice DOMAIN=${D}`));
        ok(ms < 1000, `visible on node 2 after ${ms} ms`);
        match(await pop3Login(n2, `alice@${D}`, "alice-pw-1"), /^\+OK/);
        match(await imapLogin(n2, `alice@${D}`, "alice-pw-1"), /^a1 OK/);
        const shown = kv((await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).data);
        equal(shown.Node, "n1");
        // Node 1 made the Maildir; node 2 did not (it is not alice's home), and asks node 1
        // for the usage.
        const atHome = kv((await admin(n1, `USER SHOW NAME=alice DOMAIN=${D}`)).data);
        match(atHome.Usage, /^\d+$/);
        equal(shown.Usage, atHome.Usage, "node 2 asks node 1 for the usage");
        const root = atHome.Dir;
        ok(root.startsWith(n1.config.DirBase), root);
      });

      await t.step("NODE= names a node of Nodes; a user homed elsewhere", async () => {
        const r = await admin(n1, `USER ADD NAME=bob DOMAIN=${D} PASS=bob-pw-1 NODE=N2`);
        match(r.status, /^\+OK user bob@cluster\.test added, homed on node n2/);
        const refused = await admin(n1, `USER ADD NAME=carl DOMAIN=${D} NODE=n9`);
        match(refused.status, /^-ERR NODE=n9 is not a node of this site; Nodes lists n1, n2/);
        await timeUntil("bob on node 2", seen(n2, `USER SHOW NAME=bob DOMAIN=${D}`));
        equal(kv((await admin(n2, `USER SHOW NAME=bob DOMAIN=${D}`)).data).Node, "n2");
        // Node 1 does not hold bob's mail: node 2 deletes him, asked over PortCluster.
        const bobRoot = kv((await admin(n2, `USER SHOW NAME=bob DOMAIN=${D}`)).data).Dir;
        ok(bobRoot.startsWith(n2.config.DirBase), bobRoot);
        // A message through node 1 lands in bob's Maildir on node 2 (LMTP hand-off).
        const c = await LineClient.connect(n1.ports.smtp);
        try {
          await c.readLine(REPLY_MS);
          await c.send(
            `HELO client.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@${D}>\r\nDATA`,
          );
          for (const code of ["250", "250", "250", "354"]) {
            match((await c.readLine(REPLY_MS))!, new RegExp(`^${code}`));
          }
          await c.send("Subject: for bob\r\n\r\nhello\r\n.");
          match((await c.readLine(REPLY_MS))!, /^250 /);
        } finally {
          c.close();
        }
        ok(await Deno.stat(join(bobRoot, "new")).then((st) => st.isDirectory), "stored on node 2");
        const del = await admin(n1, `USER DEL NAME=bob DOMAIN=${D}`);
        match(del.status, /^\+OK user bob@cluster\.test deleted with its mail on node n2/);
        ok(!(await admin(n1, `USER SHOW NAME=bob DOMAIN=${D}`)).ok, "gone at once on node 1");
        equal(await Deno.stat(bobRoot).then(() => true, () => false), false, "mail removed");
      });

      await t.step("changes from node 2 reach node 1; one name wins a race", async () => {
        ok((await admin(n2, `USER MOD NAME=alice DOMAIN=${D} PASS=alice-pw-2 QUOTA=5M`)).ok);
        await timeUntil(
          "new quota on node 1",
          async () =>
            kv((await admin(n1, `USER SHOW NAME=alice DOMAIN=${D}`)).data).Quota === "5242880",
          1000,
        );
        match(await pop3Login(n1, `alice@${D}`, "alice-pw-2"), /^\+OK/);
        const both = await Promise.all([
          admin(n1, `USER ADD NAME=race DOMAIN=${D} PASS=race-pw-1`),
          admin(n2, `USER ADD NAME=race DOMAIN=${D} PASS=race-pw-1`),
        ]);
        equal(both.filter((r) => r.ok).length, 1, both.map((r) => r.status).join(" | "));
        match(both.find((r) => !r.ok)!.status, /^-ERR user race@cluster\.test already exists/);
      });

      await t.step("aliases, lists, deny entries and deletions propagate", async () => {
        match(await rcptReply(n2.ports.smtp, `info@${D}`), /^550/);
        ok((await admin(n1, `ALIAS ADD NAME=info DOMAIN=${D} FORWARD=alice@${D}`)).ok);
        ok((await admin(n1, `LIST ADD NAME=team DOMAIN=${D}`)).ok);
        ok((await admin(n1, `LIST MEMBER ADD NAME=team DOMAIN=${D} MAILBOX=alice@${D}`)).ok);
        ok((await admin(n1, `DENY ADD MAILBOXIN=spammer@remote.test`)).ok);
        const ms = await timeUntil("alias and list on node 2", async () => {
          const list = await admin(n2, `LIST SHOW NAME=team DOMAIN=${D}`);
          return list.ok && list.data.includes(`Member=alice@${D}`) &&
            (await admin(n2, "DENY SHOW MAILBOXIN")).data.includes(
              "MAILBOXIN=spammer@remote.test",
            );
        });
        ok(ms < 1000, `after ${ms} ms`);
        // The mail services of node 2 see them, not only its admin port.
        match(await rcptReply(n2.ports.smtp, `info@${D}`), /^250/);
        ok((await admin(n1, "DENY ADD IPIN=127.0.0.0/8")).ok);
        await timeUntil(
          "IPIN on node 2",
          async () => /^554/.test(await smtpGreeting(n2.ports.smtp)),
        );
        ok((await admin(n2, "DENY DEL IPIN=127.0.0.0/8")).ok);
        await timeUntil(
          "IPIN gone on node 1",
          async () => /^220/.test(await smtpGreeting(n1.ports.smtp)),
        );
        // The winner of the race holds race's mail and deletes it.
        const home = kv((await admin(n1, `USER SHOW NAME=race DOMAIN=${D}`)).data).Node;
        ok((await admin(home === "n1" ? n1 : n2, `USER DEL NAME=race DOMAIN=${D}`)).ok);
        ok((await admin(n1, `ALIAS DEL NAME=info DOMAIN=${D}`)).ok);
        await timeUntil(
          "deletions on node 2",
          async () =>
            !(await admin(n2, `USER SHOW NAME=race DOMAIN=${D}`)).ok &&
            !(await admin(n2, `ALIAS SHOW NAME=info DOMAIN=${D}`)).ok,
          1000,
        );
        match(await pop3Login(n2, `race@${D}`, "race-pw-1"), /^-ERR/);
      });

      await t.step("DKIM keys and the SRS secret are shared through the directory", async () => {
        const added = await admin(n1, `DKIM ADD DOMAIN=${D} SELECTOR=s1 TYPE=ED25519`);
        ok(added.ok, added.status);
        const record = added.data.find((l) => l.startsWith("Record="))!;
        await timeUntil(
          "key on node 2",
          async () =>
            (await admin(n2, `DKIM SHOW DOMAIN=${D}`)).data.some((l) => l.endsWith(` ${record}`)),
        );
        ok((await admin(n2, `DKIM DEL DOMAIN=${D} SELECTOR=s1`)).ok);
        await timeUntil(
          "key gone on node 1",
          async () => (await admin(n1, `DKIM SHOW DOMAIN=${D}`)).status === "+OK 0 DKIM keys",
        );
        const rows = await pg.query("directory", "SELECT name, value FROM secrets");
        equal(rows.length, 1);
        equal(rows[0].name, "srs");
        for (const n of [n1, n2]) {
          const file = await Deno.stat(join(n.config.DirBase, "srs.secret")).catch(() => null);
          equal(file, null, "no per-node SRS secret file");
        }
      });

      await t.step("node 2 cut off from PostgreSQL serves from memory, then re-reads", async () => {
        proxy.cut();
        await n2.waitForLog(/directory database unreachable/, 10_000);
        const refused = await admin(n2, `USER ADD NAME=cutoff DOMAIN=${D}`);
        match(refused.status, /^-ERR the directory database failed \(.*\): nothing was changed/);
        match(await pop3Login(n2, `alice@${D}`, "alice-pw-2"), /^\+OK/);
        // Meanwhile node 1 goes on changing the directory; node 2 cannot hear of it.
        ok((await admin(n1, `USER ADD NAME=late DOMAIN=${D} PASS=late-pw-1`)).ok);
        ok((await admin(n1, `USER DEL NAME=alice DOMAIN=${D}`)).ok);
        await new Promise((r) => setTimeout(r, 500));
        ok(!(await admin(n2, `USER SHOW NAME=late DOMAIN=${D}`)).ok);
        proxy.restore();
        await n2.waitForLog(/directory database reachable again/, 10_000);
        ok((await admin(n2, `USER SHOW NAME=late DOMAIN=${D}`)).ok);
        ok(!(await admin(n2, `USER SHOW NAME=alice DOMAIN=${D}`)).ok);
        match(await pop3Login(n2, `late@${D}`, "late-pw-1"), /^\+OK/);
      });

      await t.step("PostgreSQL down: -ERR for writes, mail still served, then back", async () => {
        await pg.halt();
        const refused = await admin(n1, `USER ADD NAME=down DOMAIN=${D}`);
        match(refused.status, /^-ERR the directory database failed .*mail is still served/);
        match(await pop3Login(n1, `late@${D}`, "late-pw-1"), /^\+OK/);
        match(await imapLogin(n2, `late@${D}`, "late-pw-1"), /^a1 OK/);
        await pg.start();
        await timeUntil(
          "writes work again",
          async () => (await admin(n1, `USER ADD NAME=up DOMAIN=${D} PASS=up-pw-1`)).ok,
          15_000,
        );
        await timeUntil("node 2 sees it", seen(n2, `USER SHOW NAME=up DOMAIN=${D}`), 10_000);
        ok(!(await admin(n2, `USER SHOW NAME=down DOMAIN=${D}`)).ok);
      });
    } finally {
      closeAdminSessions();
      await n1.stop();
      await n2.stop();
      await proxy.close();
      await pg.remove();
    }
  },
});
