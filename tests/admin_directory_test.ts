/**
 * The directory commands of the admin port over a raw socket against the real daemon
 * (SPEC §4, §5): DOMAIN, USER, ALIAS, LIST and DENY, each with its error paths:
 * missing or unknown parameters, invalid names, addresses and sizes, duplicate adds,
 * deletes of missing entries, and nothing half-applied.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Admin, exists, kv } from "./admin_helper.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("admin directory commands: DOMAIN, USER, ALIAS, LIST, DENY", async (t) => {
  const srv = await startTestServer();
  const data = srv.config.DirBase;
  const admin = await Admin.open(srv.ports.admin);
  try {
    await t.step("DOMAIN ADD / SHOW / duplicate / missing", async () => {
      match(
        (await admin.cmd("domain add name=Example.COM")).status,
        /^\+OK domain example\.com added/,
      );
      await admin.refused("DOMAIN ADD NAME=example.com", /domain example\.com already exists/);
      await admin.okData("DOMAIN ADD NAME=other.example");
      const all = await admin.okData("DOMAIN SHOW ALL");
      equal(all.length, 2);
      ok(all[0].startsWith("example.com "));
      ok(all[1].startsWith("other.example "));
      const one = kv(await admin.okData("DOMAIN SHOW NAME=example.com"));
      equal(one.Name, "example.com");
      equal(one.Users, "0");
      await admin.refused(
        "DOMAIN SHOW NAME=missing.example",
        /domain missing\.example does not exist/,
      );
      // Without ALL or NAME= a SHOW lists everything, as SHOW ALL does.
      deepStrictEqual(await admin.okData("DOMAIN SHOW"), all);
      await admin.refused("DOMAIN SHOW ALL NAME=example.com", /either ALL or NAME=, not both/);
      await admin.refused("DOMAIN DEL NAME=missing.example", /does not exist/);
    });

    await t.step("USER ADD creates the Maildir; SHOW has every attribute", async () => {
      const add = await admin.cmd(
        "USER ADD NAME=alice DOMAIN=example.com PASS=alice-pw QUOTA=10M MAXIN=1m MAXOUT=512K",
      );
      ok(add.ok, add.status);
      const u = kv(await admin.okData("USER SHOW NAME=alice DOMAIN=example.com"));
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
          "AutoReplyText",
        ]
      ) ok(key in u, `USER SHOW has ${key}`);
      equal(u.Name, "alice");
      equal(u.Domain, "example.com");
      equal(u.Quota, String(10 * 1024 * 1024));
      equal(u.MaxIn, String(1024 * 1024));
      equal(u.MaxOut, String(512 * 1024));
      equal(u.Usage, "0");
      ok(u.Dir.startsWith(join(data, "domains", "example.com") + "/"), u.Dir);
      ok(u.Dir.endsWith("/alice"));
      for (const sub of ["cur", "new", "tmp", ".Drafts", ".Sent", ".Trash", ".Junk", ".Archive"]) {
        ok(await exists(join(u.Dir, sub)), `${sub} exists`);
      }
      await admin.refused(
        "USER ADD NAME=alice DOMAIN=example.com",
        /user alice@example\.com already exists/,
      );
      await admin.refused(
        "USER ADD NAME=bob DOMAIN=nowhere.example",
        /domain nowhere\.example does not exist/,
      );
      await admin.refused(
        "USER ADD NAME=bob DOMAIN=example.com QUOTA=lots",
        /QUOTA=lots is not a size/,
      );
      await admin.refused("USER ADD NAME=bo/b DOMAIN=example.com", /not a valid mailbox name/);
      await admin.refused("USER ADD DOMAIN=example.com", /USER ADD needs NAME=<user>/);
      await admin.refused(
        "USER ADD NAME=bob DOMAIN=example.com FORWARD=x@y.z",
        /unknown parameter FORWARD/,
      );
      await admin.refused("USER ADD NAME=bob DOMAIN=example.com DIR=../../etc", /leaves DirBase/);
      await admin.refused("USER ADD NAME=bob DOMAIN=example.com DIR=/etc", /relative to DirBase/);
      await admin.refused(
        "USER SHOW NAME=bob DOMAIN=example.com",
        /user bob@example\.com does not exist/,
      );
      equal(
        (await admin.okData("USER SHOW ALL DOMAIN=example.com")).length,
        1,
        "nothing half-added",
      );
    });

    await t.step("USER ADD with DIR, usage of existing mail", async () => {
      await admin.okData("USER ADD NAME=carol DOMAIN=example.com DIR=custom/carol");
      const u = kv(await admin.okData("USER SHOW NAME=carol DOMAIN=example.com"));
      equal(u.Dir, join(data, "custom", "carol"));
      await Deno.writeTextFile(join(u.Dir, "new", "1700000000.M1P1.test,S=1234"), "x".repeat(1234));
      await admin.okData("USER ADD NAME=dave DOMAIN=example.com DIR=custom/dave");
      // Mail put there by other Maildir software is counted (S= gives the size).
      const daveDir = join(data, "custom", "dave");
      await Deno.writeTextFile(join(daveDir, "new", "1700000001.M1P1.test,S=99"), "y".repeat(99));
      equal(kv(await admin.okData("USER SHOW NAME=dave DOMAIN=example.com")).Usage, "99");
      await admin.refused(
        "USER ADD NAME=erin DOMAIN=example.com DIR=custom/carol/sub",
        /overlaps the mailbox of carol@example\.com/,
      );
      await admin.refused("USER ADD NAME=erin DOMAIN=example.com DIR=custom", /overlaps/);
      const all = await admin.okData("USER SHOW ALL");
      equal(all.length, 3);
      ok(all.every((l) => /^\S+@example\.com /.test(l)), all.join("\n"));
      ok(all.some((l) => l.startsWith("dave@example.com ") && l.includes("Usage=99")));
      // USER SHOW DOMAIN=d and USER SHOW are USER SHOW ALL [DOMAIN=d].
      deepStrictEqual(await admin.okData("USER SHOW DOMAIN=example.com"), all);
      deepStrictEqual(await admin.okData("USER SHOW"), all);
    });

    await t.step("USER MOD changes all given values at once, or none", async () => {
      const mod = await admin.cmd(
        'user mod name=alice domain=example.com quota=20M forward="a@x.example, b@y.example"' +
          ' keep=yes copy=c@z.example autoreply=on autoreplysubject="Out of \\"office\\""' +
          ' autoreplytext="Back on Monday \\\\ regards" map=ally maxin=2M maxout=0',
      );
      ok(mod.ok, mod.status);
      let u = kv(await admin.okData("USER SHOW NAME=alice DOMAIN=example.com"));
      equal(u.Quota, String(20 * 1024 * 1024));
      equal(u.Forward, "a@x.example,b@y.example");
      equal(u.Keep, "YES");
      equal(u.Copy, "c@z.example");
      equal(u.AutoReply, "ON");
      equal(u.AutoReplySubject, 'Out of "office"');
      equal(u.AutoReplyText, "Back on Monday \\ regards");
      equal(u.Map, "ally");
      equal(u.MaxIn, String(2 * 1024 * 1024));
      equal(u.MaxOut, "0");
      // One bad value: nothing of the command is applied.
      await admin.refused(
        "USER MOD NAME=alice DOMAIN=example.com QUOTA=1K FORWARD=not-an-address",
        /not-an-address/,
      );
      await admin.refused(
        "USER MOD NAME=alice DOMAIN=example.com QUOTA=1K KEEP=maybe",
        /KEEP=maybe: expected YES\|NO/,
      );
      await admin.refused("USER MOD NAME=alice DOMAIN=example.com AUTOREPLY=sometimes", /ON\|OFF/);
      await admin.refused(
        "USER MOD NAME=alice DOMAIN=example.com COPY=a@b.example,c@d.example",
        /one address/,
      );
      await admin.okData("USER ADD NAME=bob DOMAIN=example.com");
      await admin.refused(
        "USER MOD NAME=bob DOMAIN=example.com MAP=ally",
        /MAP ally is already used by alice@example\.com/,
      );
      await admin.refused(
        "USER MOD NAME=alice DOMAIN=example.com",
        /USER MOD needs at least one of/,
      );
      await admin.refused(
        "USER MOD NAME=ghost DOMAIN=example.com QUOTA=1",
        /user ghost@example\.com does not exist/,
      );
      await admin.refused("USER MOD NAME=alice DOMAIN=example.com DIR=x", /unknown parameter DIR/);
      u = kv(await admin.okData("USER SHOW NAME=alice DOMAIN=example.com"));
      equal(u.Quota, String(20 * 1024 * 1024), "the refused QUOTA=1K was not applied");
      await admin.okData(
        "USER MOD NAME=alice DOMAIN=example.com FORWARD=NONE COPY=none MAP=NONE KEEP=NO",
      );
      u = kv(await admin.okData("USER SHOW NAME=alice DOMAIN=example.com"));
      equal(u.Forward, "NONE");
      equal(u.Copy, "NONE");
      equal(u.Map, "NONE");
      equal(u.Keep, "NO");
    });

    await t.step("USER DEL removes the user and its mail", async () => {
      const dir = kv(await admin.okData("USER SHOW NAME=dave DOMAIN=example.com")).Dir;
      match(
        (await admin.cmd("USER DEL NAME=dave DOMAIN=example.com")).status,
        /^\+OK user dave@example\.com deleted/,
      );
      equal(await exists(dir), false);
      await admin.refused(
        "USER DEL NAME=dave DOMAIN=example.com",
        /user dave@example\.com does not exist/,
      );
      await admin.refused("USER DEL NAME=dave", /USER DEL needs DOMAIN=<domain>/);
    });

    await t.step("ALIAS ADD / SHOW / DEL, catch-all, data lines starting with -", async () => {
      await admin.okData(
        "ALIAS ADD NAME=info DOMAIN=example.com FORWARD=alice@example.com,x@y.example",
      );
      await admin.okData("ALIAS ADD NAME=* DOMAIN=example.com FORWARD=alice@example.com");
      await admin.okData("ALIAS ADD NAME=-dash DOMAIN=example.com FORWARD=alice@example.com");
      await admin.refused(
        "ALIAS ADD NAME=info DOMAIN=example.com FORWARD=a@b.example",
        /alias info@example\.com already exists/,
      );
      await admin.refused(
        "ALIAS ADD NAME=alice DOMAIN=example.com FORWARD=a@b.example",
        /user alice@example\.com already exists/,
      );
      await admin.refused("ALIAS ADD NAME=x DOMAIN=example.com FORWARD=nope", /not an address/);
      await admin.refused("ALIAS ADD NAME=x DOMAIN=example.com", /needs FORWARD=<addr>/);
      await admin.refused("ALIAS ADD NAME=x DOMAIN=example.com FORWARD=NONE", /not NONE/);
      const raw = await admin.cmd("ALIAS SHOW ALL DOMAIN=example.com");
      ok(raw.ok);
      equal(raw.data.length, 3);
      ok(raw.data.includes(" -dash@example.com Forward=alice@example.com"), raw.data.join("\n"));
      ok(raw.data.includes("*@example.com Forward=alice@example.com"));
      ok(raw.data.includes("info@example.com Forward=alice@example.com,x@y.example"));
      equal(
        kv(await admin.okData("ALIAS SHOW NAME=info DOMAIN=example.com")).Forward,
        "alice@example.com,x@y.example",
      );
      await admin.okData("ALIAS DEL NAME=info DOMAIN=example.com");
      await admin.okData("ALIAS DEL NAME=* DOMAIN=example.com");
      await admin.refused(
        "ALIAS DEL NAME=info DOMAIN=example.com",
        /alias info@example\.com does not exist/,
      );
      equal((await admin.okData("ALIAS SHOW ALL")).length, 1);
    });

    await t.step("LIST ADD / MEMBER ADD / DEL / SHOW", async () => {
      await admin.okData("LIST ADD NAME=news DOMAIN=example.com ACCESS=members");
      await admin.okData("LIST ADD NAME=open DOMAIN=example.com");
      await admin.refused(
        "LIST ADD NAME=news DOMAIN=example.com",
        /list news@example\.com already exists/,
      );
      await admin.refused(
        "LIST ADD NAME=x DOMAIN=example.com ACCESS=everyone",
        /PUBLIC or MEMBERS/,
      );
      await admin.okData("LIST MEMBER ADD NAME=news DOMAIN=example.com MAILBOX=alice@example.com");
      await admin.okData("LIST MEMBER ADD NAME=news DOMAIN=example.com MAILBOX=Zed@Other.Example");
      await admin.refused(
        "LIST MEMBER ADD NAME=news DOMAIN=example.com MAILBOX=alice@example.com",
        /already a member/,
      );
      await admin.refused(
        "LIST MEMBER ADD NAME=news DOMAIN=example.com MAILBOX=alice",
        /not an address/,
      );
      await admin.refused(
        "LIST MEMBER ADD NAME=nolist DOMAIN=example.com MAILBOX=a@b.example",
        /list nolist@example\.com does not exist/,
      );
      await admin.refused(
        "LIST MEMBER DEL NAME=news DOMAIN=example.com MAILBOX=x@y.example",
        /not a member/,
      );
      await admin.refused("LIST MEMBER ADD NAME=news DOMAIN=example.com", /needs MAILBOX=<addr>/);
      const one = await admin.okData("LIST SHOW NAME=news DOMAIN=example.com");
      const fields = kv(one);
      equal(fields.Access, "MEMBERS");
      equal(fields.Members, "2");
      ok(one.includes("Member=alice@example.com"));
      const all = await admin.okData("LIST SHOW ALL DOMAIN=example.com");
      equal(all.length, 2);
      ok(all[0].startsWith("news@example.com ") && all[0].includes("Access=MEMBERS"));
      await admin.okData("LIST MEMBER DEL NAME=news DOMAIN=example.com MAILBOX=alice@example.com");
      equal(kv(await admin.okData("LIST SHOW NAME=news DOMAIN=example.com")).Members, "1");
      await admin.okData("LIST DEL NAME=open DOMAIN=example.com");
      await admin.refused("LIST DEL NAME=open DOMAIN=example.com", /does not exist/);
    });

    await t.step("DENY ADD / SHOW / DEL of one, a kind, all", async () => {
      for (
        const entry of [
          "IPIN=192.0.2.0/24",
          "IPIN=198.51.100.7",
          "IPOUT=203.0.113.0/24",
          "DOMAININ=spam.example",
          "DOMAINOUT=blocked.example",
          "MAILBOXIN=bad@sender.example",
          "MAILBOXOUT=nobody@dest.example",
        ]
      ) await admin.okData(`DENY ADD ${entry}`);
      await admin.refused("DENY ADD IPIN=192.0.2.0/24", /already exists/);
      await admin.refused("DENY ADD IPIN=300.1.1.1", /not an IP address or network/);
      await admin.refused("DENY ADD DOMAININ=bad_domain", /not a valid domain name/);
      await admin.refused("DENY ADD MAILBOXIN=no-at-sign", /not an address/);
      await admin.refused("DENY ADD IPIN=1.2.3.4 IPOUT=1.2.3.4", /one entry at a time/);
      await admin.refused("DENY ADD", /DENY ADD needs one of/);
      await admin.refused("DENY ADD COLOR=red", /unknown parameter COLOR/);
      const all = await admin.okData("DENY SHOW ALL");
      equal(all.length, 7);
      ok(all.includes("IPIN=192.0.2.0/24") && all.includes("MAILBOXOUT=nobody@dest.example"));
      equal((await admin.okData("DENY SHOW IPIN")).length, 2);
      await admin.okData("DENY DEL IPIN=198.51.100.7");
      await admin.refused("DENY DEL IPIN=198.51.100.7", /does not exist/);
      match((await admin.cmd("DENY DEL IPIN")).status, /^\+OK 1 deny entry deleted/);
      equal((await admin.okData("DENY SHOW IPIN")).length, 0);
      await admin.refused("DENY DEL", /needs ALL, a kind/);
      await admin.refused("DENY DEL EVERYTHING", /unexpected word "EVERYTHING"/);
      match((await admin.cmd("DENY DEL ALL")).status, /^\+OK 5 deny entries deleted/);
      equal((await admin.okData("DENY SHOW ALL")).length, 0);
    });

    await t.step("DOMAIN DEL takes users, their mail, aliases and lists", async () => {
      const carolDir = kv(await admin.okData("USER SHOW NAME=carol DOMAIN=example.com")).Dir;
      const aliceDir = kv(await admin.okData("USER SHOW NAME=alice DOMAIN=example.com")).Dir;
      const r = await admin.cmd("DOMAIN DEL NAME=example.com");
      match(r.status, /^\+OK domain example\.com deleted with 3 users, 1 alias, 1 list/);
      equal(await exists(carolDir), false);
      equal(await exists(aliceDir), false);
      equal(await exists(join(data, "domains", "example.com")), false);
      await admin.refused("USER SHOW ALL DOMAIN=example.com", /does not exist/);
      equal((await admin.okData("USER SHOW ALL")).length, 0);
      equal((await admin.okData("LIST SHOW ALL")).length, 0);
    });
  } finally {
    admin.close();
    await srv.stop();
  }
});
