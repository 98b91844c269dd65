/**
 * Start-up order (src/server/server.ts): the outbound queue runs before any listener
 * opens, so the first SMTP client of a fresh daemon can already relay. The daemon
 * used to open its listeners first and set the queue afterwards: an RCPT to a remote
 * domain in those first moments was refused with "451 4.3.0 outbound queue not available".
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { freePorts, startTestServer } from "./helpers/server.ts";

/** Connects the moment the port accepts; returns the client and when that was. */
async function connectWhenUp(
  port: number,
  ms: number,
): Promise<{ client: LineClient; at: number }> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const client = await LineClient.connect(port);
      return { client, at: Date.now() };
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

async function readReply(client: LineClient): Promise<string> {
  for (;;) {
    const line = await client.readLine();
    if (line === null) throw new Error("connection closed");
    if (!/^\d{3}-/.test(line)) return line;
  }
}

Deno.test("start-up: an RCPT to a remote domain right after the port opens is accepted", async () => {
  const [smtpPort] = freePorts(1);
  // Several addresses per listener: more listening sockets still opening after the SMTP
  // one, i.e. a wider window in which a daemon without its queue would answer.
  const listenIp = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`);
  const starting = startTestServer({
    config: { PortSMTP: smtpPort, ListenIP: listenIp, LocalIP: ["127.0.0.0/8"] },
  });
  let client: LineClient | null = null;
  try {
    const up = await connectWhenUp(smtpPort, 30_000);
    client = up.client;
    // One write as soon as connected (the daemon reads it after its greeting): the RCPT
    // reaches it at once, without waiting for a reply.
    await client.write(
      "EHLO client.test\r\nMAIL FROM:<sender@client.test>\r\nRCPT TO:<someone@remote.test>\r\n",
    );
    const sentAfter = Date.now() - up.at;
    assert(sentAfter < 100, `the RCPT went out ${sentAfter} ms after the port opened`);
    assertMatch(await readReply(client), /^220 /);
    assertMatch(await readReply(client), /^250 /);
    assertMatch(await readReply(client), /^250 /);
    const rcpt = await readReply(client);
    assertEquals(rcpt.slice(0, 4), "250 ", `RCPT answered "${rcpt}"`);
    // The race above is short; the order is certain: the queue has loaded its spool
    // before the first listener opened.
    const logs = (await starting).logs();
    const queueReady = logs.search(/ INFO queue \d+ queued message\(s\) in /);
    const firstListener = logs.search(/ INFO server \w+ listening on /);
    assert(queueReady >= 0 && firstListener >= 0, `start-up log:\n${logs}`);
    assert(queueReady < firstListener, `the queue started after a listener:\n${logs}`);
  } finally {
    client?.close();
    await (await starting).stop();
  }
});
