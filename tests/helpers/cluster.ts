/**
 * Several daemons on one PostgreSQL directory (SPEC §12), for the cluster tests: each with
 * its own DirBase, NodeName and ports, all sharing `Directory`, plus small clients that
 * log in once (POP3, IMAP) and a poll that measures how long a change takes to show.
 */
import { equal } from "node:assert/strict";
import { Admin } from "../admin_helper.ts";
import { LineClient } from "./client.ts";
import { freePorts, startTestServer, type TestServer } from "./server.ts";

/** How long a cluster test waits for a reply (logins run scrypt; CI shares 2 cores with much else). */
export const REPLY_MS = 60_000;

export const CLUSTER_SECRET = "cluster-secret-for-tests-0123456789";

/** Starts one node per entry of `directoryUrls` (node i is "n<i+1>", all in Nodes). */
export async function startNodes(directoryUrls: string[]): Promise<TestServer[]> {
  const ports = freePorts(directoryUrls.length);
  const nodes = Object.fromEntries(ports.map((p, i) => [`n${i + 1}`, `127.0.0.1:${p}`]));
  const servers: TestServer[] = [];
  try {
    for (const [i, url] of directoryUrls.entries()) {
      servers.push(
        await startTestServer({
          tls: true,
          config: {
            Directory: url,
            NodeName: `n${i + 1}`,
            Nodes: nodes,
            PortCluster: ports[i],
            ClusterSecret: CLUSTER_SECRET,
          },
        }),
      );
    }
  } catch (e) {
    for (const s of servers) await s.stop();
    throw e;
  }
  return servers;
}

// One logged-in admin session per node, kept open: a LOGIN costs a scrypt, which would
// make every poll of timeUntil a quarter of a second long.
const sessions = new Map<TestServer, Admin>();

/** Runs one admin command on a node (over its open session); the reply. */
export async function admin(srv: TestServer, line: string) {
  let a = sessions.get(srv);
  if (!a) {
    a = await Admin.open(srv.ports.admin, true, REPLY_MS);
    sessions.set(srv, a);
  }
  return await a.cmd(line, REPLY_MS);
}

/** Closes the admin sessions of `admin()`. */
export function closeAdminSessions(): void {
  for (const a of sessions.values()) a.close();
  sessions.clear();
}

/**
 * Polls `check` every 20 ms until it holds; resolves to the milliseconds that took, or
 * throws after `ms`.
 */
export async function timeUntil(
  what: string,
  check: () => Promise<boolean>,
  ms = 5000,
): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One POP3 login (USER/PASS over the loopback, where cleartext is allowed): its reply. */
export async function pop3Login(srv: TestServer, user: string, password: string) {
  const c = await LineClient.connect(srv.ports.pop3);
  try {
    equal((await c.readLine())?.startsWith("+OK"), true);
    await c.send(`USER ${user}`);
    await c.readLine();
    await c.send(`PASS ${password}`);
    // A password check (scrypt) on a loaded machine, then maybe a proxied login: generous.
    const reply = (await c.readLine(REPLY_MS)) ?? "";
    await c.send("QUIT");
    return reply;
  } finally {
    c.close();
  }
}

/** One IMAP LOGIN: the tagged reply. */
export async function imapLogin(srv: TestServer, user: string, password: string) {
  const c = await LineClient.connect(srv.ports.imap);
  try {
    await c.readLine();
    await c.send(`a1 LOGIN ${user} ${password}`);
    const lines = await c.readUntil((l) => l.startsWith("a1 "), REPLY_MS);
    await c.send("a2 LOGOUT");
    return lines.at(-1)!;
  } finally {
    c.close();
  }
}
