/**
 * Two admin sessions change the directory while a third reads it and POP3 logins look
 * users up (SPEC §4: a change is visible to the mail services at once): no reader ever
 * sees half a change, and concurrent changes to one user's fields are not lost.
 */
import { equal, ok } from "node:assert/strict";
import { LineClient } from "./helpers/client.ts";
import { ADMIN_PASSWORD, startTestServer } from "./helpers/server.ts";

const isStatus = (l: string) => l.startsWith("+OK") || l.startsWith("-ERR");

const clients: LineClient[] = [];

async function adminSession(port: number): Promise<(line: string) => Promise<string[]>> {
  const c = await LineClient.connect(port);
  clients.push(c);
  await c.readLine();
  const run = async (line: string) => {
    await c.send(line);
    const lines = await c.readUntil(isStatus);
    if (!lines[lines.length - 1].startsWith("+OK")) throw new Error(`${line} -> ${lines.pop()}`);
    return lines.slice(0, -1);
  };
  await run(`LOGIN ${ADMIN_PASSWORD}`);
  return run;
}

/** A POP3 USER/PASS login; true on +OK. */
async function pop3Login(port: number, user: string, pass: string): Promise<boolean> {
  const c = await LineClient.connect(port);
  try {
    await c.readLine();
    await c.send(`USER ${user}`);
    await c.readLine();
    await c.send(`PASS ${pass}`);
    const reply = (await c.readLine()) ?? "";
    await c.send("QUIT");
    return reply.startsWith("+OK");
  } finally {
    c.close();
  }
}

const N = 25;
const K = 1024;

Deno.test("admin: concurrent sessions change the directory; readers never see torn state", async () => {
  const srv = await startTestServer();
  try {
    const [w1, w2, reader] = await Promise.all([1, 2, 3].map(() => adminSession(srv.ports.admin)));
    await w1("DOMAIN ADD NAME=conc.example");
    for (let i = 0; i < N; i++) await w1(`USER ADD NAME=u${i} DOMAIN=conc.example QUOTA=${i}K`);
    let done = false;
    let reads = 0;
    const check = async () => {
      while (!done) {
        for (const line of await reader("USER SHOW ALL DOMAIN=conc.example")) {
          const i = Number(/^u(\d+)@/.exec(line)![1]);
          const quota = Number(/Quota=(\d+)/.exec(line)![1]);
          const maxIn = Number(/MaxIn=(\d+)/.exec(line)![1]);
          // One USER MOD sets QUOTA and MAXIN together: both old or both new.
          ok(
            (quota === i * K && maxIn === 0) || (quota === (i + 1) * K && maxIn === (i + 1) * K),
            `torn: ${line}`,
          );
        }
        reads++;
      }
    };
    const writer1 = async () => {
      for (let i = 0; i < N; i++) {
        await w1(`USER MOD NAME=u${i} DOMAIN=conc.example QUOTA=${i + 1}K MAXIN=${i + 1}K`);
      }
    };
    let passwordsSet = 0;
    const writer2 = async () => {
      for (let i = 0; i < N; i++) {
        await w2(
          `USER MOD NAME=u${i} DOMAIN=conc.example FORWARD=f${i}@x.example KEEP=YES PASS=p${i}`,
        );
        passwordsSet = i + 1;
        await w2(`ALIAS ADD NAME=a${i} DOMAIN=conc.example FORWARD=u${i}@conc.example`);
      }
    };
    const logins = async () => {
      // Each password set by USER MOD is usable by POP3 as soon as +OK came back. (Guessing
      // before that would be failed logins, which the guard of SPEC §7 counts.)
      for (let i = 0; i < N; i += 5) {
        while (passwordsSet <= i) await new Promise((r) => setTimeout(r, 20));
        ok(await pop3Login(srv.ports.pop3, `u${i}@conc.example`, `p${i}`), `u${i} logs in`);
      }
    };
    const checking = check();
    await Promise.all([writer1(), writer2(), logins()]);
    done = true;
    await checking;
    ok(reads > 0);
    // Neither writer's changes were lost to the other's.
    for (let i = 0; i < N; i++) {
      const lines = await reader(`USER SHOW NAME=u${i} DOMAIN=conc.example`);
      const u = Object.fromEntries(lines.map((l) => l.split(/=(.*)/s, 2)));
      equal(u.Quota, String((i + 1) * K));
      equal(u.MaxIn, String((i + 1) * K));
      equal(u.Forward, `f${i}@x.example`);
      equal(u.Keep, "YES");
    }
    equal((await reader("ALIAS SHOW ALL DOMAIN=conc.example")).length, N);
    // Added and deleted users are seen (or no longer seen) by POP3 at once.
    await w1("USER ADD NAME=fresh DOMAIN=conc.example PASS=fresh-pw");
    equal(await pop3Login(srv.ports.pop3, "fresh@conc.example", "fresh-pw"), true);
    await w2("USER DEL NAME=fresh DOMAIN=conc.example");
    equal(await pop3Login(srv.ports.pop3, "fresh@conc.example", "fresh-pw"), false);
  } finally {
    for (const c of clients) c.close();
    await srv.stop();
  }
});
