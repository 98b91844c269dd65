/**
 * SPEC §5 mail semantics (and the §7 promises a client can observe) against the real
 * daemon as a black-box tester: relay rules, PlainAuthWithoutTLS, deny entries, FORWARD /
 * KEEP / COPY, aliases, lists, the autoresponder, QUOTA / MAXIN / MAXOUT, MAP logins, the
 * queue id in the 250 reply, and a crash in the middle of DATA.
 *
 * LocalIP is 127.0.0.1/32, so a client bound to 127.0.0.2 is a remote client. Outbound
 * mail goes to a sink SMTP server through a fake DNS (far.example MX -> 127.0.0.1).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { python, startTestServer } from "./helpers/server.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import {
  AdminWire,
  hashedRoot,
  kvLines,
  maildirFiles,
  maildirTexts,
  sendMail,
  until,
  Wire,
} from "./helpers/spec.ts";

const D = "mail.example";
const PW = "pw-Secret-1";

/** SMTP from python smtplib: prints one line per step, never raises on SMTP errors. */
const PY_SMTP = `
import smtplib, ssl, sys, json
port, source, starttls, login, password, mail_from, rcpt = sys.argv[1:8]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(port), source_address=(source, 0) if source else None, timeout=15)
s.ehlo("client.test")
if starttls == "1":
    s.starttls(context=ctx); s.ehlo("client.test")
print("AUTH-OFFERED", s.has_extn("auth"))
if login:
    try:
        code, msg = s.docmd("AUTH", "PLAIN " + __import__("base64").b64encode(("\\0%s\\0%s" % (login, password)).encode()).decode())
    except smtplib.SMTPException as e:
        code, msg = -1, str(e).encode()
    print("AUTH", code, msg.decode())
code, msg = s.docmd("MAIL", "FROM:<%s>" % mail_from)
print("MAIL", code, msg.decode())
if code == 250:
    code, msg = s.docmd("RCPT", "TO:<%s>" % rcpt)
    print("RCPT", code, msg.decode())
s.quit()
`;

async function pySmtp(o: {
  port: number;
  source?: string;
  starttls?: boolean;
  login?: string;
  password?: string;
  from: string;
  to: string;
}): Promise<Record<string, string>> {
  const out = await python(PY_SMTP, [
    String(o.port),
    o.source ?? "",
    o.starttls ? "1" : "0",
    o.login ?? "",
    o.password ?? "",
    o.from,
    o.to,
  ]);
  const r: Record<string, string> = {};
  for (const line of out.trim().split("\n")) {
    const i = line.indexOf(" ");
    r[line.slice(0, i)] = line.slice(i + 1);
  }
  return r;
}

/** POP3 login from python poplib: "OK <stat>" or "ERR <reply>". */
const PY_POP = `
import poplib, ssl, sys
port, source, stls, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", int(port), timeout=15)
if source:
    import socket
    p.sock.close()
    sock = socket.create_connection(("127.0.0.1", int(port)), 15, (source, 0))
    p.sock = sock; p.file = sock.makefile("rb"); p._debugging = 0; p.welcome = p._getresp()
if stls == "1":
    p.stls(context=ctx)
try:
    p.user(user); p.pass_(password)
    print("OK", p.stat()[0])
except poplib.error_proto as e:
    print("ERR", e)
p.quit()
`;

async function pyPop(port: number, user: string, password: string, source = "", stls = false) {
  return (await python(PY_POP, [String(port), source, stls ? "1" : "0", user, password])).trim();
}

const inbox = (dirBase: string, user: string) => hashedRoot(dirBase, D, user);

Deno.test("spec §5: mail semantics against the real daemon", async (t) => {
  const dns = await startFakeDns();
  dns.add("far.example", { type: "MX", preference: 10, exchange: "mx.far.example" });
  dns.add("mx.far.example", { type: "A", address: "127.0.0.1" });
  dns.add("ipout.example", { type: "MX", preference: 10, exchange: "mx.ipout.example" });
  dns.add("mx.ipout.example", { type: "A", address: "127.0.0.5" });
  // The sink answers on 127.0.0.5 too: only the IPOUT entry keeps mail away from it.
  const sink = await startSink({ hosts: ["127.0.0.1", "127.0.0.5"] });
  const srv = await startTestServer({
    tls: true,
    config: {
      LocalIP: ["127.0.0.1/32"],
      DNSServer: [dns.server],
      OutboundPort: sink.port,
      QueueRetry: [1],
      QueueExpire: 4,
    },
  });
  const base = srv.config.DirBase;
  const a = await AdminWire.open(srv.ports.admin);
  const send = (o: Partial<Parameters<typeof sendMail>[0]> & { to: string[] }) =>
    sendMail({ port: srv.ports.smtp, from: "someone@far.example", ...o });
  const texts = (user: string, folder = "") => maildirTexts(join(inbox(base, user), folder));
  try {
    await t.step("set-up through the admin port", async () => {
      await a.ok(`DOMAIN ADD NAME=${D}`);
      const users = ["alice", "bob", "carol", "fwd", "keep", "copy", "ar", "ar2", "q", "mi", "dsn"];
      for (const u of users) {
        await a.ok(`USER ADD NAME=${u} DOMAIN=${D} PASS=${PW}`);
      }
      await a.ok(`USER ADD NAME=mo DOMAIN=${D} PASS=${PW} MAXOUT=1K`);
      await a.ok(`USER ADD NAME=mapped DOMAIN=${D} PASS=${PW}`);
      await a.ok(`USER MOD NAME=mapped DOMAIN=${D} MAP=legacy-login`);
      await a.ok(`USER MOD NAME=fwd DOMAIN=${D} FORWARD=bob@${D}`);
      await a.ok(`USER MOD NAME=keep DOMAIN=${D} FORWARD=carol@${D} KEEP=YES`);
      await a.ok(`USER MOD NAME=copy DOMAIN=${D} COPY=carol@${D}`);
      await a.ok(`USER ADD NAME=fwdout DOMAIN=${D}`);
      await a.ok(`USER MOD NAME=fwdout DOMAIN=${D} FORWARD=out@far.example`);
      await a.ok(`USER MOD NAME=ar DOMAIN=${D} AUTOREPLY=ON AUTOREPLYSUBJECT="Away: back Monday"`);
      await a.ok(`USER MOD NAME=ar2 DOMAIN=${D} AUTOREPLY=ON AUTOREPLYTEXT="Gone fishing"`);
      await a.ok(`USER MOD NAME=q DOMAIN=${D} QUOTA=2K`);
      await a.ok(`USER MOD NAME=mi DOMAIN=${D} MAXIN=1K`);
      await a.ok(`ALIAS ADD NAME=info DOMAIN=${D} FORWARD=alice@${D},bob@${D}`);
      await a.ok(`ALIAS ADD NAME=loop1 DOMAIN=${D} FORWARD=loop2@${D}`);
      await a.ok(`ALIAS ADD NAME=loop2 DOMAIN=${D} FORWARD=loop1@${D}`);
      await a.ok(`LIST ADD NAME=team DOMAIN=${D}`);
      for (const m of [`alice@${D}`, `bob@${D}`, "member@far.example"]) {
        await a.ok(`LIST MEMBER ADD NAME=team DOMAIN=${D} MAILBOX=${m}`);
      }
      await a.ok(`LIST ADD NAME=closed DOMAIN=${D} ACCESS=MEMBERS`);
      await a.ok(`LIST MEMBER ADD NAME=closed DOMAIN=${D} MAILBOX=alice@${D}`);
    });

    await t.step("passwords are stored only as salted hashes", async () => {
      for await (const e of Deno.readDir(base)) {
        if (!e.isFile) continue;
        const text = new TextDecoder("latin1").decode(await Deno.readFile(join(base, e.name)));
        assert(!text.includes(PW), `${e.name} holds a clear-text password`);
      }
    });

    let expiring = "";
    await t.step(
      "250 names the queue id that QUEUE SHOW and the log use; IPOUT; QUEUE DEL",
      async () => {
        await a.ok("DENY ADD IPOUT=127.0.0.5/32");
        const r = await send({ from: `dsn@${D}`, to: ["someone@ipout.example"] });
        const m = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(r.data ?? "");
        assert(m, `250 reply: ${r.data}`);
        const id = expiring = m[1];
        // IPOUT: the only MX is denied, so the message waits in the queue.
        await srv.waitForLog(new RegExp(`${id}.*someone@ipout\\.example`));
        const all = await a.ok("QUEUE SHOW ALL");
        assert(all.some((l) => l.startsWith(id)), `QUEUE SHOW ALL:\n${all.join("\n")}`);
        const one = kvLines(await a.ok(`QUEUE SHOW ID=${id}`));
        assert(Object.values(one).join(" ").includes("someone@ipout.example"), JSON.stringify(one));
        assert((await a.ok("QUEUE SHOW DOMAIN=ipout.example")).some((l) => l.startsWith(id)));
        assert(srv.logs().includes(id), "the log does not name the queue id");
        // QUEUE DEL drops a message without a bounce.
        const other = await send({ from: `dsn@${D}`, to: ["other@ipout.example"] });
        const id2 = /queued as (\S+)$/.exec(other.data ?? "")![1];
        assert((await a.ok("QUEUE SHOW ALL")).some((l) => l.startsWith(id2)));
        await a.ok(`QUEUE DEL ID=${id2}`);
        assert(!(await a.ok("QUEUE SHOW ALL")).some((l) => l.startsWith(id2)));
        await a.err(`QUEUE SHOW ID=${id2}`);
        // Local mail names the id too (in the 250 and the log).
        const local = await send({ to: [`alice@${D}`] });
        const lm = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(local.data ?? "");
        assert(lm, `${local.data}`);
        await srv.waitForLog(new RegExp(lm[1]));
        // Mail to a host that is not denied goes out.
        await send({ from: `alice@${D}`, to: ["someone@far.example"] });
        const [msg] = await sink.waitFor(1);
        assertEquals(msg.to, ["someone@far.example"]);
        assertEquals(msg.localAddress, "127.0.0.1");
      },
    );

    await t.step(
      "no open relay: a remote client cannot relay; port 25 never needs AUTH",
      async () => {
        const remote = await send({ source: "127.0.0.2", to: ["x@elsewhere.example"] });
        assertMatch(remote.rcpts[0], /^5\d\d /);
        assertEquals(remote.data, null);
        for (
          const to of [`x@ELSEWHERE.example`, `x@elsewhere.example.`, `"x@y"@elsewhere.example`]
        ) {
          const r = await send({ source: "127.0.0.2", to: [to] });
          assertMatch(r.rcpts[0], /^5\d\d /, to);
        }
        const r = await send({ source: "127.0.0.2", to: [`alice@${D}`] });
        assertMatch(r.data ?? "", /^250 /);
        // From LocalIP relaying is allowed without AUTH.
        const local = await send({ to: ["y@far.example"] });
        assertMatch(local.data ?? "", /^250 /);
        await sink.waitFor(2);
      },
    );

    await t.step(
      "PlainAuthWithoutTLS=local for SMTP AUTH; AUTH then lets a client relay",
      async () => {
        const plain = await pySmtp({
          port: srv.ports.smtp,
          source: "127.0.0.2",
          login: `alice@${D}`,
          password: PW,
          from: `alice@${D}`,
          to: "z@far.example",
        });
        assertEquals(plain["AUTH-OFFERED"], "False");
        assertMatch(plain.AUTH, /^5\d\d /);
        assertMatch(plain.RCPT, /^5\d\d /);
        const tls = await pySmtp({
          port: srv.ports.smtp,
          source: "127.0.0.2",
          starttls: true,
          login: `alice@${D}`,
          password: PW,
          from: `alice@${D}`,
          to: "z@far.example",
        });
        assertEquals(tls["AUTH-OFFERED"], "True");
        assertMatch(tls.AUTH, /^235 /);
        assertMatch(tls.RCPT, /^250 /);
        const local = await pySmtp({ port: srv.ports.smtp, from: "a@far.example", to: `bob@${D}` });
        assertEquals(local["AUTH-OFFERED"], "True");
      },
    );

    await t.step("submission (587) requires AUTH before MAIL, even from LocalIP", async () => {
      const none = await pySmtp({ port: srv.ports.submission, from: `alice@${D}`, to: `bob@${D}` });
      assertMatch(none.MAIL, /^530 /);
      const auth = await pySmtp({
        port: srv.ports.submission,
        login: `alice@${D}`,
        password: PW,
        from: `alice@${D}`,
        to: "w@far.example",
      });
      assertMatch(auth.AUTH, /^235 /);
      assertMatch(auth.RCPT, /^250 /);
      // SMTPS (465) follows the submission rules.
      const smtps = await python(
        `
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=15)
s.ehlo("x")
print(s.docmd("MAIL", "FROM:<alice@${D}>")[0])
s.login("alice@${D}", "${PW}")
print(s.docmd("MAIL", "FROM:<alice@${D}>")[0])
s.quit()
`,
        [String(srv.ports.smtps)],
      );
      assertEquals(smtps.trim().split("\n"), ["530", "250"]);
    });

    await t.step("PlainAuthWithoutTLS for POP3; RELOAD switches never / always", async () => {
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW), /^OK \d+/);
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW, "127.0.0.2"), /^ERR/);
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW, "127.0.0.2", true), /^OK/);
      await srv.rewriteConfig({ PlainAuthWithoutTLS: "never" });
      await a.ok("RELOAD");
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW), /^ERR/);
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW, "", true), /^OK/);
      const never = await pySmtp({
        port: srv.ports.smtp,
        login: `alice@${D}`,
        password: PW,
        from: "a@far.example",
        to: `bob@${D}`,
      });
      assertEquals(never["AUTH-OFFERED"], "False");
      assertMatch(never.AUTH, /^5\d\d /);
      await srv.rewriteConfig({ PlainAuthWithoutTLS: "always" });
      await a.ok("RELOAD");
      assertMatch(await pyPop(srv.ports.pop3, `alice@${D}`, PW, "127.0.0.2"), /^OK/);
      const always = await pySmtp({
        port: srv.ports.smtp,
        source: "127.0.0.2",
        login: `alice@${D}`,
        password: PW,
        from: `alice@${D}`,
        to: "v@far.example",
      });
      assertMatch(always.AUTH, /^235 /);
      assertMatch(always.RCPT, /^250 /);
      await srv.rewriteConfig({ PlainAuthWithoutTLS: "local" });
      await a.ok("RELOAD");
    });

    await t.step("MAP: a second login name for POP3 and SMTP AUTH", async () => {
      assertMatch(await pyPop(srv.ports.pop3, "legacy-login", PW), /^OK/);
      assertMatch(await pyPop(srv.ports.pop3, `mapped@${D}`, PW), /^OK/);
      const r = await pySmtp({
        port: srv.ports.submission,
        login: "legacy-login",
        password: PW,
        from: `mapped@${D}`,
        to: `bob@${D}`,
      });
      assertMatch(r.AUTH, /^235 /);
      // Unique on the server: another user cannot take the same MAP.
      await a.err(`USER MOD NAME=bob DOMAIN=${D} MAP=legacy-login`);
      // A MAP cannot shadow a canonical login, nor a new user take a mapped name.
      await a.err(`USER MOD NAME=bob DOMAIN=${D} MAP=alice@${D}`);
      await a.ok(`USER MOD NAME=bob DOMAIN=${D} MAP=future@${D}`);
      await a.err(`USER ADD NAME=future DOMAIN=${D} PASS=x`);
      await a.ok(`USER MOD NAME=bob DOMAIN=${D} MAP=NONE`);
    });

    await t.step(
      "deny entries: IPIN at connect, DOMAININ/MAILBOXIN at MAIL, *OUT at RCPT",
      async () => {
        await a.ok("DENY ADD IPIN=127.0.0.3/32");
        const w = await Wire.connect(srv.ports.smtp, "127.0.0.3");
        assertMatch(await w.smtp(), /^554 5\.7\.1/);
        assert(await w.closedByPeer(3000), "IPIN: the session stayed open");
        w.close();
        await a.ok("DENY ADD DOMAININ=spam.example");
        await a.ok("DENY ADD MAILBOXIN=bad@far.example");
        await a.ok("DENY ADD DOMAINOUT=blocked.example");
        await a.ok(`DENY ADD MAILBOXOUT=carol@${D}`);
        assertMatch(
          (await send({ from: "x@spam.example", to: [`alice@${D}`] })).mail,
          /^550 5\.7\.1/,
        );
        assertMatch(
          (await send({ from: "x@sub.spam.example", to: [`alice@${D}`] })).mail,
          /^550 5\.7\.1/,
        );
        assertMatch(
          (await send({ from: "bad@far.example", to: [`alice@${D}`] })).mail,
          /^550 5\.7\.1/,
        );
        assertMatch((await send({ from: "good@far.example", to: [`alice@${D}`] })).mail, /^250 /);
        assertMatch((await send({ to: ["x@blocked.example"] })).rcpts[0], /^550 5\.7\.1/);
        assertMatch((await send({ to: [`carol@${D}`] })).rcpts[0], /^550 5\.7\.1/);
        // Local users' outbound mail included (authenticated submission).
        const out = await pySmtp({
          port: srv.ports.submission,
          login: `alice@${D}`,
          password: PW,
          from: `alice@${D}`,
          to: "x@blocked.example",
        });
        assertMatch(out.RCPT, /^550 5\.7\.1/);
        for (const kind of ["IPIN", "DOMAININ", "MAILBOXIN", "DOMAINOUT", "MAILBOXOUT"]) {
          await a.ok(`DENY DEL ${kind}`);
        }
        assertEquals(await a.ok("DENY SHOW ALL"), ["IPOUT=127.0.0.5/32"]);
        const again = await Wire.connect(srv.ports.smtp, "127.0.0.3");
        assertMatch(await again.smtp(), /^220 /);
        again.close();
      },
    );

    await t.step("catch-all alias NAME=* takes unknown local parts of its domain", async () => {
      await a.ok("DOMAIN ADD NAME=catch.example");
      await a.ok(`ALIAS ADD NAME=* DOMAIN=catch.example FORWARD=bob@${D}`);
      const r = await send({
        source: "127.0.0.2",
        to: ["whoever@catch.example"],
        data: "Subject: caught\r\n\r\nhi\r\n",
      });
      assertMatch(r.data ?? "", /^250 /);
      assert((await texts("bob")).at(-1)!.includes("Subject: caught"));
    });

    await t.step("FORWARD, KEEP=YES and COPY", async () => {
      const before = { bob: (await texts("bob")).length, carol: (await texts("carol")).length };
      for (const to of ["fwd", "keep", "copy"]) {
        const r = await send({ to: [`${to}@${D}`], data: `Subject: to ${to}\r\n\r\nhi\r\n` });
        assertMatch(r.data ?? "", /^250 /, to);
      }
      assertEquals((await texts("fwd")).length, 0, "FORWARD without KEEP kept a copy");
      const bob = await texts("bob");
      assertEquals(bob.length, before.bob + 1);
      assert(bob.at(-1)!.includes("Subject: to fwd"));
      assertEquals((await texts("keep")).length, 1);
      assertEquals((await texts("copy")).length, 1);
      const carol = await texts("carol");
      assertEquals(carol.length, before.carol + 2);
      assert(carol.some((m) => m.includes("Subject: to keep")));
      assert(carol.some((m) => m.includes("Subject: to copy")));
      // A forward to a remote address goes out (it is not relaying: the admin set it up).
      const sunk = sink.messages.length;
      const out = await send({ source: "127.0.0.2", to: [`fwdout@${D}`] });
      assertMatch(out.data ?? "", /^250 /);
      const [fwd] = (await sink.waitFor(sunk + 1)).slice(sunk);
      assertEquals(fwd.to, ["out@far.example"]);
      // SPEC §8: forwarded mail leaves with an SRS sender in the forwarding domain.
      assertMatch(fwd.from, new RegExp(`^SRS0=[^=]+=[A-Z2-7]{2}=far\\.example=someone@${D}$`, "i"));
    });

    await t.step("aliases expand to their FORWARD list; loops are stopped", async () => {
      const before = (await texts("alice")).length;
      const r = await send({ to: [`info@${D}`], data: "Subject: alias\r\n\r\nhi\r\n" });
      assertMatch(r.data ?? "", /^250 /);
      assertEquals((await texts("alice")).length, before + 1);
      assert((await texts("bob")).at(-1)!.includes("Subject: alias"));
      const loop = await send({ to: [`loop1@${D}`] });
      assertMatch(loop.rcpts[0], /^5\d\d /);
    });

    await t.step("lists: members get the mail from <list>-bounces@<domain>", async () => {
      const sunk = sink.messages.length;
      const r = await send({ to: [`team@${D}`], data: "Subject: list post\r\n\r\nhi\r\n" });
      assertMatch(r.data ?? "", /^250 /);
      const alice = (await texts("alice")).at(-1)!;
      assert(alice.includes("Subject: list post"));
      assertMatch(alice, new RegExp(`^Return-Path: <team-bounces@${D}>`, "m"));
      assertMatch(
        (await texts("bob")).at(-1)!,
        new RegExp(`^Return-Path: <team-bounces@${D}>`, "m"),
      );
      const [remote] = (await sink.waitFor(sunk + 1)).slice(sunk);
      assertEquals(remote.from, `team-bounces@${D}`);
      assertEquals(remote.to, ["member@far.example"]);
      // The bounce address takes mail (from anywhere: bounces come back to the list).
      const bounce = await send({ source: "127.0.0.2", from: "", to: [`team-bounces@${D}`] });
      assertMatch(bounce.rcpts[0], /^250 /);
    });

    await t.step("ACCESS=MEMBERS: a non-member is refused at RCPT with 550 5.7.1", async () => {
      assertMatch((await send({ to: [`closed@${D}`] })).rcpts[0], /^550 5\.7\.1/);
      const ok = await send({ from: `alice@${D}`, to: [`closed@${D}`] });
      assertMatch(ok.data ?? "", /^250 /);
    });

    await t.step("autoresponder: Subject exactly, Auto-Submitted, once per sender", async () => {
      const count = async () =>
        (await texts("alice")).filter((m) => /^Auto-Submitted:/m.test(m)).length;
      const start = await count();
      const r = await send({
        from: `alice@${D}`,
        to: [`ar@${D}`],
        data: "Subject: Question\r\nMessage-ID: <q1@far.example>\r\n\r\nhello\r\n",
      });
      assertMatch(r.data ?? "", /^250 /);
      await until(async () => (await count()) === start + 1, 5000, "for the autoreply");
      const reply = (await texts("alice")).filter((m) => /^Auto-Submitted:/m.test(m)).at(-1)!;
      assertMatch(reply, /^Subject: Away: back Monday\r$/m);
      assertMatch(reply, /^Auto-Submitted: auto-replied\r$/m);
      assertMatch(reply, /^Return-Path: <>\r$/m);
      // Once per sender per 7 days.
      await send({ from: `alice@${D}`, to: [`ar@${D}`], data: "Subject: again\r\n\r\nx\r\n" });
      // Never to null senders, bulk, lists or auto-submitted mail.
      await send({ from: "", to: [`ar2@${D}`] });
      await send({
        from: `bob@${D}`,
        to: [`ar2@${D}`],
        data: "Subject: b\r\nPrecedence: bulk\r\n\r\nx\r\n",
      });
      await send({
        from: `bob@${D}`,
        to: [`ar2@${D}`],
        data: "Subject: b\r\nAuto-Submitted: auto-generated\r\n\r\nx\r\n",
      });
      await send({
        from: `bob@${D}`,
        to: [`ar2@${D}`],
        data: "Subject: b\r\nList-Id: <x.y>\r\n\r\nx\r\n",
      });
      await a.ok(`LIST MEMBER ADD NAME=team DOMAIN=${D} MAILBOX=ar2@${D}`);
      await send({ from: `carol@${D}`, to: [`team@${D}`], data: "Subject: via list\r\n\r\nx\r\n" });
      await a.ok(`LIST MEMBER DEL NAME=team DOMAIN=${D} MAILBOX=ar2@${D}`);
      // Default subject: "Auto: " and the original subject.
      await send({ from: `alice@${D}`, to: [`ar2@${D}`], data: "Subject: Lunch?\r\n\r\nx\r\n" });
      await until(async () => (await count()) === start + 2, 5000, "for the second autoreply");
      await new Promise((r) => setTimeout(r, 300));
      assertEquals(await count(), start + 2);
      const second = (await texts("alice")).filter((m) => /^Auto-Submitted:/m.test(m)).at(-1)!;
      assertMatch(second, /^Subject: Auto: Lunch\?\r$/m);
      const auto = async (u: string) =>
        (await texts(u)).filter((m) => /^Auto-Submitted: auto-replied/m.test(m)).length;
      assertEquals(await auto("bob"), 0, "answered bulk/list/auto-submitted mail");
      assertEquals(await auto("carol"), 0, "answered mail that came through a list");
    });

    await t.step("QUOTA: 552 5.2.2 at RCPT with SIZE=, else at the end of DATA", async () => {
      const big = "Subject: big\r\n\r\n" + ("x".repeat(98) + "\r\n").repeat(30);
      const atRcpt = await send({ to: [`q@${D}`], mailParams: "SIZE=3000", data: big });
      assertMatch(atRcpt.rcpts[0], /^552 5\.2\.2/);
      const atData = await send({ to: [`q@${D}`], data: big });
      assertMatch(atData.rcpts[0], /^250 /);
      assertMatch(atData.data ?? "", /^552 5\.2\.2/);
      assertEquals((await texts("q")).length, 0);
      const small = "Subject: small\r\n\r\n" + ("x".repeat(98) + "\r\n").repeat(7);
      assertMatch((await send({ to: [`q@${D}`], data: small })).data ?? "", /^250 /);
      assertMatch((await send({ to: [`q@${D}`], data: small })).data ?? "", /^250 /);
      // Usage is now over 1.4K: a third copy would pass 2K.
      assertMatch((await send({ to: [`q@${D}`], data: small })).data ?? "", /^552 5\.2\.2/);
      const f = kvLines(await a.ok(`USER SHOW NAME=q DOMAIN=${D}`));
      assert(Number(f.Usage) > 1400, `Usage=${f.Usage}`);
    });

    await t.step("MAXIN and MAXOUT: 552 5.3.4", async () => {
      const big = "Subject: big\r\n\r\n" + ("x".repeat(98) + "\r\n").repeat(15);
      assertMatch(
        (await send({ to: [`mi@${D}`], mailParams: "SIZE=1500" })).rcpts[0],
        /^552 5\.3\.4/,
      );
      assertMatch((await send({ to: [`mi@${D}`], data: big })).data ?? "", /^552 5\.3\.4/);
      assertMatch((await send({ to: [`mi@${D}`] })).data ?? "", /^250 /);
      const sub = (o: Partial<Parameters<typeof sendMail>[0]>) =>
        sendMail({
          port: srv.ports.submission,
          from: `mo@${D}`,
          to: [`alice@${D}`],
          auth: [`mo@${D}`, PW],
          ...o,
        });
      assertMatch((await sub({ mailParams: "SIZE=1500" })).mail, /^552 5\.3\.4/);
      assertMatch((await sub({ data: big })).data ?? "", /^552 5\.3\.4/);
      assertMatch((await sub({})).data ?? "", /^250 /);
      // MaxMailSize is advertised with SIZE and enforced.
      const w = await Wire.connect(srv.ports.smtp);
      await w.smtp();
      assertMatch(await w.cmd("EHLO x"), new RegExp(`^250-SIZE ${srv.config.MaxMailSize}$`, "m"));
      assertMatch(
        await w.cmd(`MAIL FROM:<a@far.example> SIZE=${srv.config.MaxMailSize + 1}`),
        /^552 5\.3\.4/,
      );
      w.close();
    });

    await t.step(
      "Maildir++: files in new/ with CRLF, nothing left in tmp/, POP3 serves them",
      async () => {
        // Two recipients: the Received header has no "for", and still its ";" before the date.
        const two = await send({
          to: [`alice@${D}`, `bob@${D}`],
          data: "Subject: two\r\n\r\nx\r\n",
        });
        assertMatch(two.data ?? "", /^250 /);
        const root = inbox(base, "alice");
        const files = await maildirFiles(root);
        assert(files.length > 3);
        for (const f of files) {
          const text = await Deno.readTextFile(f);
          assert(text.endsWith("\r\n"), f);
          assertMatch(text, /^Return-Path: <[^>]*>\r\n/);
          // Mail received over SMTP carries our Received header right below it (SPEC §8:
          // below our Authentication-Results and Received-SPF when it was checked).
          if (!/^Auto-Submitted:/m.test(text)) {
            assertMatch(
              text,
              /^Return-Path: <[^>]*>\r\n(?:Authentication-Results: [^]*?\r\nReceived-SPF: [^]*?\r\n)?Received: /,
            );
            // RFC 5322 3.6.7: received = "Received:" *received-token ";" date-time
            assertMatch(
              text,
              /^Received: [^\r]*(?:\r\n\t[^\r]*)*;(?: |\r\n\t)\w{3}, \d\d \w{3} \d{4} /m,
              text,
            );
          }
          assert(!/[^\r]\n/.test(text), `bare LF in ${f}`);
        }
        const tmp = [];
        for await (const e of Deno.readDir(join(root, "tmp"))) tmp.push(e.name);
        assertEquals(tmp, []);
        const stat = await pyPop(srv.ports.pop3, `alice@${D}`, PW);
        assertEquals(stat, `OK ${files.length}`);
      },
    );

    await t.step("QueueExpire: the IPOUT-blocked recipient bounces with 4.4.7", async () => {
      const bounces = async () =>
        (await texts("dsn")).filter((m) =>
          m.includes("Final-Recipient: rfc822; someone@ipout.example")
        );
      await until(async () => (await bounces()).length > 0, 10_000, "for the expiry DSN")
        .catch((e) => {
          console.log(
            srv.logs().split("\n").filter((l) => l.includes(expiring) || /queue/.test(l)).join(
              "\n",
            ),
          );
          throw e;
        });
      const dsn = (await bounces())[0];
      assertMatch(dsn, /^Action: failed\r$/m);
      assertMatch(dsn, /^Status: 4\.4\.7\r$/m);
      assert(dsn.includes(expiring), "the DSN does not name the queue id");
      assert(
        !(await texts("dsn")).some((m) => m.includes("other@ipout.example")),
        "QUEUE DEL bounced",
      );
      assertEquals(sink.messages.filter((m) => m.localAddress === "127.0.0.5").length, 0);
      // DNS answers are cached for their TTL: far.example's MX was asked once.
      assertEquals(dns.count("far.example", "MX"), 1);
      const cached = await a.ok("DNS CACHE SHOW DOMAIN=far.example");
      assert(cached.some((l) => /^far\.example\.? MX /i.test(l)), cached.join("\n"));
      await a.ok("DNS CACHE FLUSH DOMAIN=far.example");
      assertEquals(await a.ok("DNS CACHE SHOW DOMAIN=far.example"), []);
      // STATUS counts what happened.
      const st = kvLines(await a.ok("STATUS"));
      for (const k of ["Received", "Delivered", "Queued"]) {
        assert(Number(st[k]) > 0, `STATUS ${k}=${st[k]}`);
      }
      // Passwords never reach the log, not even base64-encoded in AUTH PLAIN.
      assert(!srv.logs().includes(PW), "a password is in the log");
      assert(!srv.logs().includes(btoa(`\0alice@${D}\0${PW}`)), "AUTH PLAIN data is in the log");
    });

    await t.step(
      "Maildir shared with other software: a file it drops in cur/ hides nothing",
      async () => {
        await a.ok(`USER ADD NAME=shared DOMAIN=${D} PASS=${PW}`);
        for (let i = 0; i < 2; i++) {
          assertMatch((await send({ to: [`shared@${D}`] })).data ?? "", /^250 /);
        }
        // Let new/ settle (coarse directory mtimes), then look at it once.
        await new Promise((r) => setTimeout(r, 2300));
        assertEquals(await pyPop(srv.ports.pop3, `shared@${D}`, PW), "OK 2");
        const cur = join(inbox(base, "shared"), "cur");
        await Deno.writeTextFile(
          join(cur, "1700000000.foreign.host:2,S"),
          "Subject: f\r\n\r\nx\r\n",
        );
        assertEquals(await pyPop(srv.ports.pop3, `shared@${D}`, PW), "OK 3");
      },
    );

    await t.step(
      "garbage on the TLS ports and inside STARTTLS never crashes the daemon",
      async () => {
        const junk = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256));
        await Promise.all(["smtps", "pop3s", "imaps"].map(async (name) => {
          const w = await Wire.connect(srv.ports[name]);
          await w.write(junk);
          await w.closedByPeer(3000);
          w.close();
        }));
        for (
          const [name, cmd] of [["smtp", "STARTTLS"], ["pop3", "STLS"], ["imap", "a STARTTLS"]]
        ) {
          const w = await Wire.connect(srv.ports[name]);
          await w.readLine();
          if (name === "smtp") await w.cmd("EHLO x");
          await w.send(cmd);
          await w.readLine();
          await w.write(junk);
          await w.closedByPeer(3000);
          w.close();
        }
        const check = await python(
          `
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=15)
print(s.noop()[0]); s.quit()
`,
          [String(srv.ports.smtps)],
        );
        assertEquals(check.trim(), "250");
        assert((await a.cmd("STATUS")).ok);
      },
    );

    await t.step("a crash in the middle of DATA leaves no half-written message", async () => {
      // An admin change is durable once +OK is sent.
      await a.ok(`USER ADD NAME=durable DOMAIN=${D}`);
      const root = inbox(base, "bob");
      const before = (await maildirFiles(root)).length;
      const w = await Wire.connect(srv.ports.smtp);
      await w.smtp();
      await w.cmd("EHLO x");
      await w.cmd("MAIL FROM:<a@far.example>");
      await w.cmd(`RCPT TO:<bob@${D}>`);
      assertMatch(await w.cmd("DATA"), /^354 /);
      await w.write("Subject: half\r\n\r\n" + "y".repeat(200_000));
      await new Promise((r) => setTimeout(r, 200));
      await srv.kill();
      w.close();
      await srv.restart();
      assertEquals((await maildirFiles(root)).length, before);
      assertEquals(await pyPop(srv.ports.pop3, `bob@${D}`, PW), `OK ${before}`);
      for (const m of await texts("bob")) assert(!m.includes("Subject: half"));
      const b = await AdminWire.open(srv.ports.admin);
      await b.ok(`USER SHOW NAME=durable DOMAIN=${D}`);
      b.close();
    });
  } finally {
    a.close();
    await srv.stop();
    await sink.close();
    dns.close();
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});
