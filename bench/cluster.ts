/**
 * Cluster ingest benchmark (SPEC §12): SMTP through two front nodes into one home node
 * (every recipient homed on node 1, mail sent to nodes 2 and 3, which hand it over LMTP
 * and answer 250 after node 1's durable 250), against the same load on one node alone
 * (SQLite directory, local delivery). Needs Debian's postgresql (as the cluster tests).
 * Prints both rates and their ratio as its last line.
 *
 *   deno run --allow-all bench/cluster.ts [--connections 8] [--messages 800] [--size 4096]
 */
import { parseArgs } from "node:util";
import { LineClient } from "../tests/helpers/client.ts";
import { admin, closeAdminSessions, startNodes, timeUntil } from "../tests/helpers/cluster.ts";
import { postgresMissing, startPostgres } from "../tests/helpers/postgres.ts";
import { startTestServer, type TestServer } from "../tests/helpers/server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "8" },
    messages: { type: "string", default: "800" },
    size: { type: "string", default: "4096" },
  },
});
const connections = Number(values.connections);
const messages = Number(values.messages);
const size = Number(values.size);
const D = "bench.example";
const USERS = 8;

function body(n: number): string {
  let text = `From: bench@client.example\r\nSubject: bench ${n}\r\n\r\n`;
  while (text.length < size) text += "abcdefghijklmnopqrstuvwxyz0123456789".repeat(2) + "\r\n";
  return text;
}

/** Sends `messages` over `connections` sessions spread over `ports`; messages/second. */
async function blast(ports: number[]): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async (_, ci) => {
    const c = await LineClient.connect(ports[ci % ports.length]);
    await c.readLine();
    await c.send("EHLO bench.client");
    await c.readUntil((l) => l.startsWith("250 "));
    for (let n = next++; n < messages; n = next++) {
      await c.send(
        `MAIL FROM:<bench@client.example>\r\nRCPT TO:<user${n % USERS}@${D}>\r\nDATA`,
      );
      for (const code of ["250", "250", "354"]) {
        const r = (await c.readLine(30_000)) ?? "";
        if (!r.startsWith(code)) throw new Error(`expected ${code}, got ${r}`);
      }
      await c.send(body(n) + ".");
      const r = (await c.readLine(60_000)) ?? "";
      if (!r.startsWith("250")) throw new Error(`message ${n}: ${r}`);
    }
    await c.send("QUIT");
    c.close();
  }));
  return messages / ((performance.now() - start) / 1000);
}

async function addUsers(srv: TestServer, node = "") {
  await admin(srv, `DOMAIN ADD NAME=${D}`);
  for (let i = 0; i < USERS; i++) {
    await admin(srv, `USER ADD NAME=user${i} DOMAIN=${D} PASS=bench-pass${node}`);
  }
}

if (postgresMissing) {
  console.error(`bench cluster: ${postgresMissing}`);
  Deno.exit(69);
}
console.log(`load: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
const single = await startTestServer();
let alone: number;
try {
  await addUsers(single);
  await blast([single.ports.smtp]); // warm-up of the same size: folders, caches
  alone = await blast([single.ports.smtp]);
} finally {
  closeAdminSessions();
  await single.stop();
  await Deno.remove(single.dirBase, { recursive: true });
}
console.log(`one node alone: ${alone.toFixed(0)} messages/s`);

const pg = await startPostgres();
let cluster: number;
try {
  const url = await pg.createDatabase("bench");
  const nodes = await startNodes([url, url, url]);
  try {
    await addUsers(nodes[0]);
    await timeUntil(
      "users on node 3",
      async () => (await admin(nodes[2], `USER SHOW NAME=user${USERS - 1} DOMAIN=${D}`)).ok,
    );
    await blast([nodes[1].ports.smtp, nodes[2].ports.smtp]);
    cluster = await blast([nodes[1].ports.smtp, nodes[2].ports.smtp]);
  } finally {
    closeAdminSessions();
    for (const n of nodes) await n.stop();
    for (const n of nodes) await Deno.remove(n.dirBase, { recursive: true });
  }
} finally {
  await pg.remove();
}
console.log(`two front nodes -> one home node: ${cluster.toFixed(0)} messages/s`);
console.log(
  `cluster ingest: ${cluster.toFixed(0)} msg/s via 2 front nodes vs ${alone.toFixed(0)} msg/s ` +
    `on one node (${(cluster / alone).toFixed(2)}x), ${connections} connections, ${size} B`,
);
