/**
 * Crash safety of the real daemon's queue (SPEC §7): SIGKILL while deliveries run, start
 * again, and every message arrives; only those in flight at the kill may arrive twice
 * (the RFC 5321 §6.1 window).
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { newQueueId } from "../src/queue/id.ts";
import { type EnvelopeRecord, Spool } from "../src/queue/spool.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { simpleMessage } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { startTestServer } from "./helpers/server.ts";

const COUNT = 24;
const THREADS = 3;

Deno.test("queue: survives SIGKILL during delivery; at most in-flight messages twice", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({ dataDelayMs: 120 });
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-queue-crash-" });
  // The spool as a previous run left it: COUNT messages waiting, plus debris (the state
  // file of a removal that was cut short, a temporary file of an interrupted write).
  const spool = new Spool(join(dirBase, "data"));
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const id = newQueueId();
    ids.push(id);
    const env: EnvelopeRecord = {
      v: 1,
      id,
      from: "alice@origin.test",
      createdAt: Date.now(),
      size: 0,
      smtpUtf8: false,
      eightBit: false,
      attempts: 0,
      nextAttempt: 0,
      lastError: "",
      rcpts: [{ addr: `user${i}@remote.test`, state: "pending", status: "", diag: "", mta: "" }],
    };
    await spool.create(env, simpleMessage(env.from, [env.rcpts[0].addr], `body ${i}`, id));
  }
  const orphan = newQueueId();
  await Deno.writeTextFile(spool.envPath(orphan), "{}");
  await Deno.writeTextFile(`${spool.msgPath(orphan)}.tmp-1-x`, "XQ1 10");

  const srv = await startTestServer({
    dirBase,
    config: {
      DNSServer: [dns.server],
      OutboundPort: sink.port,
      QueueRetry: [1],
      ThreadsQueue: THREADS,
    },
  });
  try {
    await srv.waitForLog(/envelope without message, removed/);
    await srv.waitForLog(/temporary file of an interrupted write, removed/);
    await sink.waitFor(5, 30_000);
    await srv.kill();
    const before = sink.messages.length;
    ok(before < COUNT, `killed while deliveries were running (${before} of ${COUNT} done)`);
    await srv.restart();
    const deadline = Date.now() + 40_000;
    const seen = () => new Set(sink.messages.map((m) => /Message-ID: <([^@]+)@/.exec(m.text)![1]));
    while (seen().size < COUNT) {
      if (Date.now() > deadline) {
        throw new Error(`only ${seen().size} of ${COUNT} delivered\n${srv.logs().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const id of ids) ok(seen().has(id), `${id} delivered`);
    const duplicates = sink.messages.length - COUNT;
    ok(duplicates <= THREADS, `${duplicates} duplicates, at most ${THREADS} were in flight`);
    // Every entry is removed once delivered, and the orphan was cleaned at start-up.
    await srv.waitForLog(new RegExp(`${ids.at(-1)}: removed|removed \\(`), 10_000);
    for (let i = 0; i < 100; i++) {
      const left = [...Deno.readDirSync(spool.dir)].map((e) => e.name);
      if (left.length === 0) break;
      if (i === 99) throw new Error(`spool not empty: ${left.join(" ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    const code = await srv.stop();
    equal(code, 0);
    await sink.close();
    dns.close();
    await Deno.remove(dirBase, { recursive: true }).catch(() => {});
  }
});
