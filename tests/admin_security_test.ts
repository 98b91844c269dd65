/**
 * Admin port security and life cycle (SPEC §4): lock-out after 5 failed logins, password
 * change (durable across a restart), the connection limit refusal, and SMTPD STOP.
 */
import { equal, match, ok } from "node:assert/strict";
import { LineClient } from "./helpers/client.ts";
import { ADMIN_PASSWORD, startTestServer } from "./helpers/server.ts";

/**
 * A greeted admin connection. The server frees a closed session's slot when it has seen
 * the close (after a refused LOGIN's check has finished, on a loaded machine a while
 * later), so a refusal for the limit while earlier sessions are still going away is
 * waited out; the limit itself is tested with a plain LineClient.
 */
async function connect(port: number): Promise<LineClient> {
  for (let i = 0;; i++) {
    const c = await LineClient.connect(port);
    const greeting = await c.readLine();
    if (greeting === "-ERR too many connections" && i < 200) {
      c.close();
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    equal(greeting, "+OK eXtremail admin ready");
    return c;
  }
}

/**
 * Sends one line and returns the status line (these commands send no data lines). Checks of
 * one address run one after another, each a scrypt of about half a second (N=2^17) on a
 * loaded machine maybe several: five parallel LOGINs may take well over 10 s.
 */
async function status(c: LineClient, line: string): Promise<string> {
  await c.send(line);
  const lines = await c.readUntil((l) => l.startsWith("+OK") || l.startsWith("-ERR"), 30_000);
  return lines[lines.length - 1];
}

async function login(port: number, password: string): Promise<{ c: LineClient; reply: string }> {
  const c = await connect(port);
  return { c, reply: await status(c, `LOGIN ${password}`) };
}

Deno.test("admin security: lock-out, password change across restart, limits, SMTPD STOP", async (t) => {
  const srv = await startTestServer({ config: { MaxConnectionsPerIP: 7 } });
  const port = srv.ports.admin;
  try {
    await t.step("5 failed logins lock the address out, even the right password", async () => {
      const started = Date.now();
      // In parallel: each failure costs >= 1 s, the lock-out counts them all the same.
      const attempts = await Promise.all(
        [1, 2, 3, 4, 5].map(async (i) => {
          const { c, reply } = await login(port, `wrong-${i}`);
          c.close();
          return reply;
        }),
      );
      ok(Date.now() - started >= 1000);
      for (const reply of attempts) match(reply, /^-ERR wrong password/);
      ok(attempts.some((r) => /locked out/.test(r)), attempts.join("\n"));
      const { c, reply } = await login(port, ADMIN_PASSWORD);
      match(reply, /^-ERR too many failed logins from 127\.0\.0\.1; locked out until/);
      equal(await status(c, "STATUS"), "-ERR LOGIN first; before it only HELP and QUIT work");
      c.close();
      await srv.waitForLog(/5 failed admin logins; locked out/);
    });

    await t.step("a restart clears the in-memory lock-out", async () => {
      equal(await srv.stop(), 0);
      await srv.restart();
      const { c, reply } = await login(port, ADMIN_PASSWORD);
      equal(reply, "+OK logged in");
      c.close();
    });

    await t.step("PASSWORD changes the admin password; the old one is refused", async () => {
      const { c } = await login(port, ADMIN_PASSWORD);
      match(await status(c, "PASSWORD NEW=x"), /^-ERR PASSWORD needs OLD=<old>/);
      match(await status(c, "PASSWORD OLD=x"), /^-ERR PASSWORD needs NEW=<new>/);
      match(
        await status(c, "PASSWORD OLD=wrong NEW=x"),
        /^-ERR OLD is not the current admin password/,
      );
      const change = await status(c, `PASSWORD OLD=${ADMIN_PASSWORD} NEW="new secret \\"pw\\""`);
      equal(change, "+OK admin password changed");
      c.close();
      const old = await login(port, ADMIN_PASSWORD);
      match(old.reply, /^-ERR wrong password/);
      old.c.close();
      const fresh = await login(port, 'new secret "pw"');
      equal(fresh.reply, "+OK logged in");
      fresh.c.close();
    });

    await t.step("the new password survives a restart", async () => {
      equal(await srv.stop(), 0);
      await srv.restart();
      const fresh = await login(port, 'new secret "pw"');
      equal(fresh.reply, "+OK logged in");
      fresh.c.close();
      const old = await login(port, ADMIN_PASSWORD);
      match(old.reply, /^-ERR wrong password/);
      old.c.close();
    });

    await t.step("over MaxConnectionsPerIP the admin port answers -ERR and closes", async () => {
      const open = await Promise.all([1, 2, 3, 4, 5, 6, 7].map(() => connect(port)));
      const extra = await LineClient.connect(port);
      equal(await extra.readLine(), "-ERR too many connections");
      ok(await extra.closedByPeer());
      extra.close();
      for (const c of open) c.close();
    });

    await t.step("SMTPD STOP: +OK, other sessions get -ERR, the process exits 0", async () => {
      const { c: other } = await login(port, 'new secret "pw"');
      const { c } = await login(port, 'new secret "pw"');
      equal(await status(c, "smtpd stop"), "+OK eXtremail shutting down");
      ok(await c.closedByPeer());
      match((await other.readLine())!, /^-ERR eXtremail is shutting down/);
      equal(await srv.waitExit(), 0);
      c.close();
      other.close();
    });
  } finally {
    await srv.stop();
  }
});
