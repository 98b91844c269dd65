/**
 * The admin port over a raw socket against the real daemon (SPEC §4): login and its
 * delay, HELP of every family, malformed input, STATUS, the queue and DNS cache, RELOAD,
 * logging without passwords, the idle timeout. The directory commands are in
 * admin_directory_test.ts.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Admin, kv } from "./admin_helper.ts";
import { ADMIN_PASSWORD, freePort, python, startTestServer } from "./helpers/server.ts";

Deno.test("admin protocol: login, help, bad input, status, queue, reload, logs", async (t) => {
  // Outbound mail goes to a closed port, so a message stays in the queue for QUEUE tests.
  const srv = await startTestServer({ config: { RelayHost: `127.0.0.1:${freePort()}` } });
  let a: Admin | null = null;
  try {
    await t.step("before LOGIN only HELP and QUIT work", async () => {
      const s = await Admin.open(srv.ports.admin, false);
      const help = await s.okData("help");
      ok(help.some((l) => l.includes("LOGIN <password>")));
      ok(help.some((l) => /^ {2}USER /.test(l)));
      equal((await s.okData("USER HELP"))[0], "USER commands:");
      await s.refused("STATUS", /^-ERR LOGIN first/);
      await s.refused("DOMAIN ADD NAME=x.example", /^-ERR LOGIN first/);
      await s.refused("LOGIN", /LOGIN needs the password/);
      const started = Date.now();
      await s.refused("LOGIN not-the-password", /^-ERR wrong password/);
      ok(Date.now() - started >= 1000, "a failed login is answered after >= 1 s");
      // Bare LF and lower-case verbs are accepted.
      await s.c.write(`login ${ADMIN_PASSWORD}\n`);
      equal(await s.c.readLine(), "+OK logged in");
      await s.refused(`LOGIN ${ADMIN_PASSWORD}`, /already logged in/);
      equal((await s.cmd("quit")).status, "+OK bye");
      ok(await s.c.closedByPeer());
    });

    a = await Admin.open(srv.ports.admin);
    const admin = a;

    await t.step("HELP for every family names it and shows each command's syntax", async () => {
      const families: Record<string, string[]> = {
        USER: ["USER ADD NAME=<user> DOMAIN=<domain>", "USER MOD", "USER DEL", "USER SHOW [ALL]"],
        DOMAIN: ["DOMAIN ADD NAME=<domain>", "DOMAIN DEL", "DOMAIN SHOW [ALL]"],
        ALIAS: ["ALIAS ADD NAME=<name> DOMAIN=<domain> FORWARD=", "ALIAS DEL", "ALIAS SHOW"],
        LIST: ["LIST ADD", "LIST DEL", "LIST MEMBER ADD", "LIST MEMBER DEL", "LIST SHOW"],
        DENY: ["DENY ADD IPIN=<ip/mask>", "DENY DEL ALL", "DENY SHOW [ALL"],
        QUEUE: ["QUEUE SHOW [ALL]", "QUEUE FLUSH", "QUEUE DEL ID=<id>"],
        DNS: ["DNS CACHE SHOW [ALL]", "DNS CACHE FLUSH"],
      };
      for (const [family, commands] of Object.entries(families)) {
        for (const line of [`${family} HELP`, `HELP ${family.toLowerCase()}`]) {
          const r = await admin.cmd(line);
          ok(r.ok, r.status);
          match(r.status, new RegExp(`^\\+OK ${family} help`));
          equal(r.data[0], `${family} commands:`);
          for (const c of commands) ok(r.data.some((l) => l.includes(c)), `${line}: ${c}`);
        }
      }
      await admin.refused("HELP NOTHING", /no help for "NOTHING"/);
    });

    await t.step("bad input: -ERR with the reason, the session stays open", async () => {
      await admin.refused("FROBNICATE", /unknown command "FROBNICATE"/);
      await admin.refused("USER", /USER needs one of ADD, MOD, DEL, SHOW/);
      await admin.refused("USER FROB NAME=x", /unknown USER command "FROB"/);
      await admin.refused("DOMAIN ADD", /DOMAIN ADD needs NAME=<domain>/);
      await admin.refused("DOMAIN ADD NAME=a.example COLOR=red", /unknown parameter COLOR/);
      await admin.refused("DOMAIN ADD NAME=", /NAME= is empty/);
      await admin.refused('DOMAIN ADD NAME="a.example', /unterminated quoted value of NAME/);
      await admin.refused("DOMAIN ADD NAME=a b", /unexpected word|after the parameters/);
      await admin.refused("DOMAIN ADD =a.example", /parameter without a name/);
      await admin.refused("DOMAIN ADD NAME=a NAME=b", /given twice/);
      await admin.refused("DOMAIN ADD NAME=bad_domain!", /not a valid domain name/);
      await admin.refused("STATUS NOW", /unexpected word "NOW" in STATUS/);
      await admin.refused("", /empty command line/);
      await admin.c.write(new Uint8Array([0x53, 0x54, 0xff, 0xfe, 13, 10]));
      match((await admin.c.readLine())!, /^-ERR the command line is not valid UTF-8/);
      await admin.c.send("STATUS " + "x".repeat(5000));
      match((await admin.c.readLine())!, /^-ERR line too long/);
      equal((await admin.cmd("STATUS")).ok, true, "the session goes on");
    });

    await t.step("STATUS: uptime, version, connections per service, message counts", async () => {
      const status = kv(await admin.okData("STATUS"));
      const keys = ["Version", "Uptime", "smtp", "pop3", "imap", "admin", "Received", "Delivered"];
      for (const key of [...keys, "Queued"]) ok(key in status, `STATUS has ${key}`);
      match(status.Version, /^\d+(\.\d+)*$/);
      match(status.Uptime, /^\d+$/);
      ok(Number(status.admin) >= 1);
      equal(status.Received, "0");
    });

    await t.step("QUEUE SHOW / FLUSH / DEL answer from the real queue", async () => {
      equal(kv(await admin.okData("STATUS")).InQueue, "0");
      await python(
        `import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.sendmail("a@client.example", ["x@remote.example", "y@other.example"], "Subject: q\\r\\n\\r\\nhi\\r\\n")
s.quit()`,
        [String(srv.ports.smtp)],
      );
      const all = await admin.okData("QUEUE SHOW ALL");
      equal(all.length, 1, all.join("\n"));
      const id = all[0].split(" ")[0];
      match(
        all[0],
        /From=<a@client\.example> Pending=x@remote\.example,y@other\.example Attempts=/,
      );
      const one = kv(await admin.okData(`QUEUE SHOW ID=${id.toLowerCase()}`));
      equal(one.Id, id);
      equal(one.From, "<a@client.example>");
      equal(one.Pending, "x@remote.example,y@other.example");
      for (const key of ["Attempts", "Created", "NextAttempt", "LastError"]) ok(key in one, key);
      // The list line and the single form name the same fields, with the same values.
      const m = all[0].match(
        /^(\S+) From=(\S+) Pending=(\S*) Attempts=(\S+) Created=(\S+) NextAttempt=(\S+) LastError=(.*)$/,
      );
      ok(m, all[0]);
      const [, Id, From, Pending, Attempts, Created, NextAttempt, LastError] = m;
      deepStrictEqual(
        { Id, From, Pending, Attempts, Created, NextAttempt, LastError },
        one,
        "QUEUE SHOW ALL's line = QUEUE SHOW ID=",
      );
      equal((await admin.okData("QUEUE SHOW DOMAIN=remote.example")).length, 1);
      equal((await admin.okData("QUEUE SHOW DOMAIN=nowhere.example")).length, 0);
      deepStrictEqual(await admin.okData("QUEUE SHOW"), all, "QUEUE SHOW = QUEUE SHOW ALL");
      await admin.refused("QUEUE SHOW ALL DOMAIN=remote.example", /either ALL or DOMAIN=/);
      await admin.refused("QUEUE SHOW ID=not-an-id", /ID=NOT-AN-ID is not a queue id/);
      await admin.refused(
        "QUEUE SHOW ID=00000000000000",
        /no queued message with id 00000000000000/,
      );
      await admin.okData(`QUEUE FLUSH ID=${id}`);
      await admin.okData("QUEUE FLUSH");
      await admin.refused("QUEUE FLUSH ID=00000000000000", /no queued message/);
      await admin.refused("QUEUE DEL", /QUEUE DEL needs ID=<id>/);
      match((await admin.cmd(`QUEUE DEL ID=${id}`)).status, /^\+OK message \w+ deleted/);
      await admin.refused(`QUEUE DEL ID=${id}`, /no queued message with id/);
      equal((await admin.okData("QUEUE SHOW ALL")).length, 0);
    });

    await t.step("DNS CACHE SHOW / FLUSH answer from the real cache", async () => {
      const dns = await admin.cmd("DNS CACHE SHOW ALL");
      match(dns.status, /^\+OK \d+ cached answers?$/);
      ok(dns.data.every((l) => /^\S+ \S+ .* TTL=\d+$/.test(l)), dns.data.join("\n"));
      await admin.okData("DNS CACHE SHOW DOMAIN=example.com");
      deepStrictEqual(
        (await admin.okData("DNS CACHE SHOW")).map((l) => l.replace(/TTL=\d+$/, "")),
        dns.data.map((l) => l.replace(/TTL=\d+$/, "")),
        "DNS CACHE SHOW = DNS CACHE SHOW ALL",
      );
      await admin.refused("DNS CACHE SHOW DOMAIN=bad_name!", /not a valid domain name/);
      match((await admin.cmd("DNS CACHE FLUSH DOMAIN=example.com")).status, /^\+OK \d+ cached/);
      match((await admin.cmd("DNS CACHE FLUSH")).status, /^\+OK \d+ cached answers? flushed/);
    });

    await t.step(
      "RELOAD applies live keys, names those that need a restart, reports errors",
      async () => {
        await srv.rewriteConfig({ LogLevel: "info", PortSMTP: srv.config.PortSMTP + 1 });
        const r = await admin.cmd("RELOAD");
        ok(r.ok, r.status);
        match(r.status, /restart needed for PortSMTP/);
        equal(kv(r.data).Applied, "LogLevel");
        equal(kv(r.data).RestartNeeded, "PortSMTP");
        const good = await Deno.readTextFile(srv.confPath);
        await Deno.writeTextFile(srv.confPath, good + "\nBogusKey = 1\n");
        await admin.refused("RELOAD", /^-ERR reload failed.*BogusKey/);
        await Deno.writeTextFile(srv.confPath, good);
      },
    );

    await t.step("every command is logged with the address, passwords never", async () => {
      await admin.okData("DOMAIN ADD NAME=log.example");
      await admin.okData('USER ADD NAME=p DOMAIN=log.example PASS="very secret-pw"');
      await admin.refused(
        "PASSWORD OLD=wrong-old-pw NEW=x",
        /OLD is not the current admin password/,
      );
      await srv.waitForLog(/127\.0\.0\.1: PASSWORD \*\*\* -> -ERR/);
      const logs = srv.logs();
      match(logs, /127\.0\.0\.1: USER ADD NAME=p DOMAIN=log\.example PASS=\*\*\* -> \+OK/);
      match(logs, /127\.0\.0\.1: LOGIN \*\*\* -> \+OK logged in/);
      ok(
        !logs.includes("very secret-pw") && !logs.includes(ADMIN_PASSWORD) &&
          !logs.includes("wrong-old-pw"),
      );
    });
    await t.step("idle sessions are closed after AdminIdleTimeout", async () => {
      await srv.rewriteConfig({ AdminIdleTimeout: 1 });
      await admin.okData("RELOAD"); // the main session goes idle now too
      const idle = await Admin.open(srv.ports.admin);
      match((await idle.c.readLine(5000))!, /^-ERR idle for 1 seconds/);
      ok(await idle.c.closedByPeer());
      idle.close();
      await srv.rewriteConfig({ AdminIdleTimeout: 600 });
      const fresh = await Admin.open(srv.ports.admin);
      await fresh.okData("RELOAD");
      fresh.close();
    });
  } finally {
    a?.close();
    await srv.stop();
  }
});
