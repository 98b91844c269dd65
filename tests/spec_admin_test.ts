/**
 * SPEC §4 (administration protocol) and the admin-visible parts of §5/§7 against the real
 * daemon, as a black-box tester: framing, LOGIN rules, data lines, SHOW formats, STATUS,
 * HELP, sizes, names that would leave DirBase, mailbox locations, PASSWORD, RELOAD,
 * garbage on every port, and finally SMTPD STOP with every protocol's goodbye.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { ADMIN_PASSWORD, startTestServer } from "./helpers/server.ts";
import { AdminWire, hashedRoot, kvLines, maildirTexts, sendMail, Wire } from "./helpers/spec.ts";

const D = "spec.example";

async function isDir(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isDirectory, () => false);
}

Deno.test("spec §4: the administration protocol against the real daemon", async (t) => {
  // Relayed test mail goes to a closed port and fails fast (no DNS waits at shutdown).
  const srv = await startTestServer({
    config: { LocalIP: ["127.0.0.1/32"], RelayHost: "127.0.0.1:9" },
  });
  const base = srv.config.DirBase;
  let stopped = false;
  let a = null as AdminWire | null;
  try {
    await t.step("greeting, HELP and QUIT before LOGIN, nothing else", async () => {
      const s = await AdminWire.open(srv.ports.admin, { login: false });
      const help = await s.cmd("HELP");
      assert(help.ok, help.status);
      assert(help.data.length > 3);
      assert(help.data.some((l) => l.includes("LOGIN")));
      for (const line of ["STATUS", "DOMAIN SHOW ALL", "USER SHOW ALL", "SMTPD STOP"]) {
        const r = await s.cmd(line);
        assert(!r.ok, `${line} before LOGIN: ${r.status}`);
        assertEquals(r.data, []);
      }
      const started = Date.now();
      const wrong = await s.cmd("LOGIN not-the-password");
      assert(!wrong.ok);
      assert(Date.now() - started >= 950, `failed login answered after ${Date.now() - started} ms`);
      const quit = await s.cmd("quit");
      assert(quit.ok, quit.status);
      assert(await s.w.closedByPeer(3000), "QUIT did not close the session");
    });

    await t.step("LOGIN takes the rest of the line; bare LF; verbs case-insensitive", async () => {
      const w = await Wire.connect(srv.ports.admin);
      assertEquals(await w.readLine(), "+OK eXtremail admin ready");
      await w.write(`login ${ADMIN_PASSWORD}\n`);
      assertMatch((await w.readLine())!, /^\+OK/);
      await w.write("domain add name=Spec.Example\n");
      assertMatch((await w.readLine())!, /^\+OK/);
      await w.write("Domain Show All\n");
      const lines = await w.readUntil((l) => /^(\+OK|-ERR)/.test(l));
      assert(lines.some((l) => l.startsWith(`${D} `) || l === D), lines.join("\n"));
      w.close();
      a = await AdminWire.open(srv.ports.admin);
    });

    await t.step("every reply ends with one +OK/-ERR status line with text", async () => {
      for (const line of ["STATUS", "HELP", "DOMAIN SHOW ALL", "BOGUS", "USER", ""]) {
        const r = await a!.cmd(line);
        assertMatch(r.status, /^(\+OK|-ERR) \S/, `${JSON.stringify(line)} -> ${r.status}`);
      }
    });

    await t.step("sizes K/M/G; USER SHOW prints every SPEC field", async () => {
      await a!.ok(`USER ADD NAME=Joe DOMAIN=${D} PASS=pw1 QUOTA=10K MAXIN=1M MAXOUT=1G`);
      const f = kvLines(await a!.ok(`USER SHOW NAME=joe DOMAIN=${D}`));
      for (
        const key of [
          "Name",
          "Domain",
          "Dir",
          "Quota",
          "Usage",
          "MaxIn",
          "MaxOut",
          "Forward",
          "Keep",
          "Copy",
          "AutoReply",
          "AutoReplySubject",
          "Map",
        ]
      ) {
        assert(key in f, `USER SHOW lacks ${key}: ${JSON.stringify(f)}`);
      }
      assertEquals(f.Name, "joe");
      assertEquals(f.Domain, D);
      assertEquals(f.Quota, "10240");
      assertEquals(f.MaxIn, "1048576");
      assertEquals(f.MaxOut, String(1024 ** 3));
      assertEquals(f.Usage, "0");
      assertEquals(f.Dir.replace(/\/$/, ""), hashedRoot(base, D, "joe"));
    });

    await t.step("mailbox location: hashed path with the special-use folders", async () => {
      const root = hashedRoot(base, D, "joe");
      for (const d of ["", ".Drafts", ".Sent", ".Trash", ".Junk", ".Archive"]) {
        for (const sub of ["new", "cur", "tmp"]) {
          assert(await isDir(join(root, d, sub)), `missing ${join(root, d, sub)}`);
        }
      }
    });

    await t.step(
      "DIR is relative to DirBase; names and DIRs that leave DirBase are refused",
      async () => {
        await a!.ok(`USER ADD NAME=dirty DOMAIN=${D} DIR=custom/dirty`);
        const f = kvLines(await a!.ok(`USER SHOW NAME=dirty DOMAIN=${D}`));
        assertEquals(f.Dir.replace(/\/$/, ""), join(base, "custom", "dirty"));
        assert(await isDir(join(base, "custom", "dirty", ".Trash", "cur")));
        const outside = join(srv.dirBase, "escaped");
        for (
          const line of [
            `USER ADD NAME=../x DOMAIN=${D}`,
            `USER ADD NAME=x/y DOMAIN=${D}`,
            `USER ADD NAME=.. DOMAIN=${D}`,
            "DOMAIN ADD NAME=../../etc",
            "DOMAIN ADD NAME=a/b",
            `USER ADD NAME=esc1 DOMAIN=${D} DIR=../../tmp`,
            `USER ADD NAME=esc2 DOMAIN=${D} DIR=../escaped`,
            `USER ADD NAME=esc3 DOMAIN=${D} DIR=${outside}`,
            `USER ADD NAME=esc4 DOMAIN=${D} DIR=a/../../escaped`,
            `ALIAS ADD NAME=../a DOMAIN=${D} FORWARD=joe@${D}`,
            `LIST ADD NAME=../l DOMAIN=${D}`,
            // Not outside, but server state that USER DEL would remove with the "mailbox".
            `USER ADD NAME=esc5 DOMAIN=${D} DIR=queue/x`,
            `USER ADD NAME=esc6 DOMAIN=${D} DIR=autoreply`,
            `USER ADD NAME=esc7 DOMAIN=${D} DIR=domains`,
            `USER ADD NAME=esc9 DOMAIN=${D} DIR=postmaster`,
            `USER ADD NAME=esc10 DOMAIN=${D} DIR=dkim/keys`,
            `USER ADD NAME=esc11 DOMAIN=${D} DIR=incoming`,
            // The delivery journal and the delivery file pool (never a mailbox's files).
            `USER ADD NAME=esc12 DOMAIN=${D} DIR=journal`,
            `USER ADD NAME=esc13 DOMAIN=${D} DIR=tmppool/0`,
            // Inside the hashed tree: a user added later could be given the same path.
            `USER ADD NAME=esc8 DOMAIN=${D} DIR=domains/${D}/00/00/other`,
          ]
        ) {
          await a!.err(line);
        }
        assert(!(await isDir(outside)), "a directory was created outside DirBase");
        assert(!(await isDir("/tmp/cur")));
        const users = await a!.ok(`USER SHOW ALL DOMAIN=${D}`);
        assert(!users.some((l) => l.includes("esc")), users.join("\n"));
      },
    );

    await t.step("data lines never begin with +OK or -ERR", async () => {
      await a!.ok(`USER ADD NAME=-err DOMAIN=${D}`);
      await a!.ok(`USER ADD NAME=+ok DOMAIN=${D}`);
      await a!.ok(`ALIAS ADD NAME=-ERR.x DOMAIN=${D} FORWARD=joe@${D}`);
      await a!.ok(`USER MOD NAME=joe DOMAIN=${D} AUTOREPLYTEXT="-ERR not really"`);
      const all = await a!.cmd(`USER SHOW ALL DOMAIN=${D}`);
      assert(all.ok);
      for (const l of all.data) {
        assert(!/^(\+OK|-ERR)/.test(l), `data line ${JSON.stringify(l)}`);
      }
      assert(all.data.some((l) => l.startsWith(" -err@")), all.data.join("\n"));
      assert(all.data.some((l) => l.startsWith(" +ok@")), all.data.join("\n"));
      const aliases = await a!.cmd(`ALIAS SHOW ALL DOMAIN=${D}`);
      assert(aliases.data.some((l) => l.startsWith(" -err.x@")), aliases.data.join("\n"));
      const one = await a!.cmd(`USER SHOW NAME=-err DOMAIN=${D}`);
      assert(one.ok, one.status);
      for (const l of one.data) assert(!/^(\+OK|-ERR)/.test(l), l);
      await a!.ok(`USER DEL NAME=-err DOMAIN=${D}`);
      await a!.ok(`USER DEL NAME=+ok DOMAIN=${D}`);
      await a!.ok(`ALIAS DEL NAME=-err.x DOMAIN=${D}`);
    });

    await t.step('quoted values: \\" and \\\\ inside double quotes', async () => {
      await a!.ok(`USER MOD NAME=joe DOMAIN=${D} AUTOREPLYSUBJECT="He said \\"hi\\" C:\\\\dir"`);
      const f = kvLines(await a!.ok(`USER SHOW NAME=joe DOMAIN=${D}`));
      assertEquals(f.AutoReplySubject, 'He said "hi" C:\\dir');
    });

    await t.step("SHOW ALL prints one line per object, beginning with its name", async () => {
      await a!.ok("DOMAIN ADD NAME=other.example");
      await a!.ok(`ALIAS ADD NAME=info DOMAIN=${D} FORWARD=joe@${D},dirty@${D}`);
      await a!.ok(`LIST ADD NAME=team DOMAIN=${D} ACCESS=MEMBERS`);
      await a!.ok(`LIST MEMBER ADD NAME=team DOMAIN=${D} MAILBOX=joe@${D}`);
      await a!.ok(`LIST MEMBER ADD NAME=team DOMAIN=${D} MAILBOX=someone@far.example`);
      const domains = await a!.ok("DOMAIN SHOW ALL");
      assertEquals(domains.map((l) => l.split(" ")[0]).sort(), ["other.example", D]);
      const users = await a!.ok(`USER SHOW ALL DOMAIN=${D}`);
      assertEquals(users.map((l) => l.split(" ")[0]).sort(), [`dirty@${D}`, `joe@${D}`]);
      const allUsers = await a!.ok("USER SHOW ALL");
      assertEquals(allUsers.length, 2);
      const aliases = await a!.ok("ALIAS SHOW ALL");
      assertEquals(aliases.length, 1);
      assert(aliases[0].startsWith(`info@${D}`), aliases[0]);
      const lists = await a!.ok(`LIST SHOW ALL DOMAIN=${D}`);
      assertEquals(lists.length, 1);
      assert(lists[0].startsWith(`team@${D}`), lists[0]);
      const team = await a!.ok(`LIST SHOW NAME=team DOMAIN=${D}`);
      const text = team.join("\n");
      assert(text.includes(`joe@${D}`) && text.includes("someone@far.example"), text);
      const counts = kvLines(await a!.ok(`DOMAIN SHOW NAME=${D}`));
      assertEquals([counts.Users, counts.Aliases, counts.Lists], ["2", "1", "1"]);
      // DKIM keys too: one line per key, its DNS record on that line (SPEC §4, §8).
      await a!.ok(`DKIM ADD DOMAIN=${D} SELECTOR=k1 TYPE=ED25519`);
      await a!.ok(`DKIM ADD DOMAIN=${D} SELECTOR=k2 TYPE=ED25519`);
      for (const command of ["DKIM SHOW ALL", "DKIM SHOW", `DKIM SHOW DOMAIN=${D}`]) {
        const keys = await a!.ok(command);
        assertEquals(keys.length, 2, `${command}:\n${keys.join("\n")}`);
        for (const line of keys) {
          assertMatch(
            line,
            /^spec\.example Selector=k[12] .* Record=k[12]\._domainkey\.spec\.example TXT "v=DKIM1; k=ed25519; p=/,
          );
        }
      }
      await a!.ok(`DKIM DEL DOMAIN=${D} SELECTOR=k1`);
      await a!.ok(`DKIM DEL DOMAIN=${D} SELECTOR=k2`);
    });

    await t.step("names with a meaning are not handed out: *, <list>-bounces", async () => {
      await a!.err(`USER ADD NAME=* DOMAIN=${D}`);
      await a!.err(`LIST ADD NAME=* DOMAIN=${D}`);
      await a!.err(`USER ADD NAME=team-bounces DOMAIN=${D}`);
      await a!.err(`ALIAS ADD NAME=team-bounces DOMAIN=${D} FORWARD=joe@${D}`);
      await a!.err(`LIST ADD NAME=team-bounces DOMAIN=${D}`);
      await a!.ok(`ALIAS ADD NAME=* DOMAIN=${D} FORWARD=joe@${D}`);
      await a!.ok(`ALIAS DEL NAME=* DOMAIN=${D}`);
    });

    await t.step("X HELP names the family X", async () => {
      for (const family of ["USER", "DOMAIN", "ALIAS", "LIST", "DENY", "QUEUE", "DNS"]) {
        for (const line of [`${family} HELP`, `HELP ${family}`]) {
          const r = await a!.cmd(line);
          assert(r.ok, `${line}: ${r.status}`);
          assert(r.data.length > 0);
          assert(
            r.data.some((l) => l.includes(family)),
            `${line} does not name ${family}:\n${r.data.join("\n")}`,
          );
        }
      }
    });

    await t.step("STATUS: Key=Value lines with smtp, pop3 and imap counts", async () => {
      const smtp = await Wire.connect(srv.ports.smtp);
      await smtp.smtp();
      const pop = await Wire.connect(srv.ports.pop3);
      await pop.readLine();
      const imap = await Wire.connect(srv.ports.imap);
      await imap.readLine();
      try {
        const data = await a!.ok("STATUS");
        for (const l of data) assertMatch(l, /^[A-Za-z0-9]+=/);
        const s = kvLines(data);
        for (const k of ["smtp", "pop3", "imap"]) {
          assert(k in s, `STATUS lacks ${k}: ${data.join("\n")}`);
          assert(Number(s[k]) >= 1, `${k}=${s[k]} with one connection open`);
        }
      } finally {
        smtp.close();
        pop.close();
        imap.close();
      }
    });

    await t.step("DENY ADD / SHOW / DEL in all their forms", async () => {
      const entries = [
        "IPIN=192.0.2.0/24",
        "IPOUT=198.51.100.7/32",
        "DOMAININ=spam.example",
        "DOMAINOUT=blocked.example",
        "MAILBOXIN=bad@senders.example",
        "MAILBOXOUT=nobody@far.example",
      ];
      for (const e of entries) await a!.ok(`DENY ADD ${e}`);
      await a!.err("DENY ADD IPIN=not-a-network");
      assertEquals((await a!.ok("DENY SHOW ALL")).length, 6);
      // SPEC §4: ALL is optional in the SHOW commands.
      assertEquals(await a!.ok("DENY SHOW"), await a!.ok("DENY SHOW ALL"));
      assertEquals(await a!.ok("DENY SHOW IPIN"), ["IPIN=192.0.2.0/24"]);
      await a!.ok("DENY DEL IPIN=192.0.2.0/24");
      assertEquals(await a!.ok("DENY SHOW IPIN"), []);
      await a!.ok("DENY DEL DOMAININ");
      assertEquals((await a!.ok("DENY SHOW ALL")).length, 4);
      await a!.ok("DENY DEL ALL");
      assertEquals(await a!.ok("DENY SHOW ALL"), []);
    });

    await t.step("QUEUE and DNS CACHE reports answer +OK", async () => {
      for (const report of ["QUEUE SHOW", "DNS CACHE SHOW"]) {
        assertEquals(await a!.ok(report), await a!.ok(`${report} ALL`), report);
      }
      await a!.ok("DNS CACHE FLUSH");
      await a!.ok("QUEUE FLUSH");
    });

    await t.step("USER DEL deletes the mail in its directory", async () => {
      const r = await sendMail({ port: srv.ports.smtp, from: "x@far.example", to: [`dirty@${D}`] });
      assertMatch(r.data ?? "", /^250 /);
      assertEquals((await maildirTexts(join(base, "custom", "dirty"))).length, 1);
      await a!.ok(`USER DEL NAME=dirty DOMAIN=${D}`);
      assert(!(await isDir(join(base, "custom", "dirty"))));
      await a!.err(`USER SHOW NAME=dirty DOMAIN=${D}`);
    });

    await t.step("DOMAIN DEL deletes its users (with mail), aliases and lists", async () => {
      await a!.ok("USER ADD NAME=gone DOMAIN=other.example");
      await a!.ok("ALIAS ADD NAME=gone2 DOMAIN=other.example FORWARD=joe@spec.example");
      await a!.ok("LIST ADD NAME=gone3 DOMAIN=other.example");
      const root = hashedRoot(base, "other.example", "gone");
      assert(await isDir(root));
      await a!.ok("DOMAIN DEL NAME=other.example");
      assert(!(await isDir(root)));
      await a!.err("DOMAIN SHOW NAME=other.example");
      assertEquals(await a!.ok("USER SHOW ALL DOMAIN=" + D).then((l) => l.length), 1);
      const all = [
        ...(await a!.ok("USER SHOW ALL")),
        ...(await a!.ok("ALIAS SHOW ALL")),
        ...(await a!.ok("LIST SHOW ALL")),
      ];
      assert(!all.some((l) => l.includes("other.example")), all.join("\n"));
      // Its addresses are unknown to SMTP at once.
      const r = await sendMail({
        port: srv.ports.smtp,
        from: "",
        to: ["gone@other.example"],
        source: "127.0.0.2",
      });
      assertMatch(r.rcpts[0], /^5\d\d /);
    });

    await t.step("PASSWORD changes the admin password, stored hashed", async () => {
      await a!.err(`PASSWORD OLD=wrong NEW=x`);
      await a!.ok(`PASSWORD OLD=${ADMIN_PASSWORD} NEW="new secret 1"`);
      const stored = await Deno.readTextFile(join(base, "admin.passwd"));
      assert(!stored.includes("new secret 1"));
      const s = await AdminWire.open(srv.ports.admin, { login: false });
      assert(!(await s.cmd(`LOGIN ${ADMIN_PASSWORD}`)).ok);
      assert((await s.cmd("LOGIN new secret 1")).ok);
      await s.ok(`PASSWORD OLD="new secret 1" NEW=${ADMIN_PASSWORD}`);
      s.close();
    });

    await t.step("RELOAD applies LocalIP at once and names keys that need a restart", async () => {
      const remote = () =>
        sendMail({
          port: srv.ports.smtp,
          from: "a@far.example",
          to: ["b@elsewhere.example"],
          source: "127.0.0.2",
        });
      assertMatch((await remote()).rcpts[0], /^5\d\d /); // no open relay
      const oldPort = srv.config.PortSMTP;
      await srv.rewriteConfig({ LocalIP: ["127.0.0.0/8"], PortSMTP: oldPort + 1 });
      const r = await a!.cmd("RELOAD");
      assert(r.ok, r.status);
      const text = [...r.data, r.status].join("\n");
      assert(text.includes("LocalIP"), text);
      assert(/restart/i.test(text) && text.includes("PortSMTP"), text);
      // LocalIP at once; the listener stays where it is until a restart.
      assertMatch((await remote()).rcpts[0], /^250 /);
      await srv.rewriteConfig({ LocalIP: ["127.0.0.1/32"], PortSMTP: oldPort });
      const back = await a!.cmd("RELOAD");
      assert(back.ok, back.status);
      assertMatch((await remote()).rcpts[0], /^5\d\d /);
      // A broken file is refused and the running configuration stays.
      // A DirBase change waits for the restart: the running daemon keeps using the old one.
      const newBase = join(srv.dirBase, "elsewhere");
      await srv.rewriteConfig({ DirBase: newBase });
      const moved = await a!.cmd("RELOAD");
      assert(moved.ok, moved.status);
      assert([...moved.data, moved.status].join(" ").includes("DirBase"), moved.status);
      await a!.ok(`USER ADD NAME=sender DOMAIN=${D}`);
      await a!.ok(`USER MOD NAME=joe DOMAIN=${D} AUTOREPLY=ON QUOTA=0`);
      const sent = await sendMail({ port: srv.ports.smtp, from: `sender@${D}`, to: [`joe@${D}`] });
      assertMatch(sent.data ?? "", /^250 /);
      const senderRoot = hashedRoot(base, D, "sender");
      for (let i = 0; i < 50 && (await maildirTexts(senderRoot)).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assertMatch((await maildirTexts(senderRoot))[0] ?? "", /^Auto-Submitted: auto-replied/m);
      assert(!(await isDir(newBase)), "the new DirBase was used before a restart");
      await srv.rewriteConfig({ DirBase: base });
      await a!.ok("RELOAD");
      await srv.rewriteConfig({ MaxRecipients: 0 });
      const bad = await a!.cmd("RELOAD");
      assert(!bad.ok, bad.status);
      assertMatch(bad.status, /MaxRecipients/);
      await srv.rewriteConfig({ MaxRecipients: 100 });
      assert((await a!.cmd("RELOAD")).ok);
      // The EHLO keywords (made once per configuration) follow a reload at once.
      const ehloSize = async () => {
        const smtp = await Wire.connect(srv.ports.smtp);
        await smtp.smtp();
        const reply = await smtp.cmd("EHLO x");
        smtp.close();
        return /^250[- ]SIZE (\d+)$/m.exec(reply)?.[1];
      };
      const size = await ehloSize();
      await srv.rewriteConfig({ MaxMailSize: 123_456 });
      assert((await a!.cmd("RELOAD")).ok);
      assertEquals(await ehloSize(), "123456");
      assert(size !== "123456", `the test's size was already ${size}`);
    });

    await t.step("5 failed logins lock the address out; others are not affected", async () => {
      const from = "127.0.0.9";
      const sessions = await Promise.all(
        [1, 2, 3, 4, 5].map(() => AdminWire.open(srv.ports.admin, { login: false, from })),
      );
      // Five scrypt checks at once: seconds on a loaded machine, so a longer wait than 15 s.
      const replies = await Promise.all(sessions.map((s) => s.cmd("LOGIN guess", 60_000)));
      for (const r of replies) assert(!r.ok);
      const locked = await sessions[0].cmd(`LOGIN ${ADMIN_PASSWORD}`, 60_000);
      assert(!locked.ok, `the right password was accepted while locked out: ${locked.status}`);
      for (const s of sessions) s.close();
      const other = await AdminWire.open(srv.ports.admin);
      other.close();
    });

    await t.step("garbage on every port never crashes the daemon", async () => {
      const garbage = [
        new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
        new TextEncoder().encode("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + "\0".repeat(64)),
        new TextEncoder().encode("A".repeat(70_000) + "\r\n" + "\r\n".repeat(50)),
        new TextEncoder().encode("\0\0\0\r\n\xff\xfe\xfd\r\nAUTH PLAIN ====\r\n* \r\nLOGIN\r\n"),
        new TextEncoder().encode('a LOGIN {99999999}\r\nUSER "\\"\r\nDATA\r\n.\r\n'),
      ];
      const ports = ["smtp", "submission", "pop3", "imap", "admin"].map((n) => srv.ports[n]);
      await Promise.all(ports.flatMap((port) =>
        garbage.map(async (g) => {
          const w = await Wire.connect(port);
          await w.write(g);
          await new Promise((r) => setTimeout(r, 200));
          w.close();
        })
      ));
      // Still alive and answering on every port.
      const smtp = await Wire.connect(srv.ports.smtp);
      assertMatch(await smtp.smtp(), /^220 /);
      assertMatch(await smtp.cmd("NOOP"), /^250 /);
      smtp.close();
      const pop = await Wire.connect(srv.ports.pop3);
      assertMatch((await pop.readLine())!, /^\+OK/);
      pop.close();
      const imap = await Wire.connect(srv.ports.imap);
      assertMatch((await imap.readLine())!, /^\* OK/);
      imap.close();
      assert((await a!.cmd("STATUS")).ok);
    });

    await t.step("SMTPD STOP: +OK, every session gets its goodbye, exit 0", async () => {
      const smtp = await Wire.connect(srv.ports.smtp);
      await smtp.smtp();
      await smtp.cmd("EHLO x");
      const pop = await Wire.connect(srv.ports.pop3);
      await pop.readLine();
      const imap = await Wire.connect(srv.ports.imap);
      await imap.readLine();
      const other = await AdminWire.open(srv.ports.admin);
      const r = await a!.cmd("SMTPD STOP");
      assert(r.ok, r.status);
      assertMatch(await smtp.smtp(), /^421 /);
      assertMatch((await pop.readLine())!, /^-ERR/);
      const bye = await imap.readUntil((l) => l.startsWith("* BYE"));
      assertMatch(bye.pop()!, /^\* BYE/);
      assertMatch((await other.w.readLine())!, /^-ERR/);
      assertEquals(await srv.waitExit(15_000), 0);
      stopped = true;
      for (const w of [smtp, pop, imap, other.w]) w.close();
    });
  } finally {
    a?.close();
    if (!stopped) await srv.stop();
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});
