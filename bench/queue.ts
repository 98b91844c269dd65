/**
 * Outbound queue throughput: enqueue N messages (durably, as SMTP would) for a remote
 * domain whose MX is a local sink SMTP server, and time until every one has been
 * accepted by the sink and removed from the spool. Fake DNS and sink run on loopback.
 *
 *   deno run -A bench/queue.ts [--messages 2000] [--size 4096] [--threads 5] [--domains 4]
 *
 * Prints `queue: X msg/s` as its last line.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { devDefaults } from "../src/config/load.ts";
import { Resolver } from "../src/dns/resolver.ts";
import { newQueueId } from "../src/queue/id.ts";
import { Queue } from "../src/queue/runner.ts";
import { newStats } from "../src/server/context.ts";
import { Directory } from "../src/directory/directory.ts";
import { ServerMetrics } from "../src/metrics/server_metrics.ts";
import { startFakeDns } from "../tests/helpers/fake_dns.ts";
import { startSink } from "../tests/helpers/sink_smtp.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "queue"),
  options: {
    messages: { type: "string", default: "2000" },
    size: { type: "string", default: "4096" },
    threads: { type: "string", default: "5" },
    domains: { type: "string", default: "4" },
    dir: { type: "string" },
  },
});
const N = Number(values.messages);
const SIZE = Number(values.size);
const DOMAINS = Number(values.domains);

function message(id: string, to: string): Uint8Array {
  const head = `From: <bench@origin.test>\r\nTo: <${to}>\r\nSubject: bench ${id}\r\n` +
    `Message-ID: <${id}@origin.test>\r\n\r\n`;
  const line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n";
  const body = line.repeat(Math.max(1, Math.ceil((SIZE - head.length) / line.length)));
  return new TextEncoder().encode(head + body);
}

const dns = await startFakeDns();
const sink = await startSink();
const base = await Deno.makeTempDir({ prefix: "extremail-bench-queue-", dir: values.dir });
const config = {
  ...devDefaults(),
  DirBase: join(base, "data"),
  HostName: "bench.test",
  DNSServer: [dns.server],
  OutboundPort: sink.port,
  ThreadsQueue: Number(values.threads),
  QueueRetry: [5],
};
await Deno.mkdir(config.DirBase, { recursive: true });
const directory = Directory.open(config.DirBase);
const queue: Queue = new Queue({
  config: () => config,
  dirBase: config.DirBase,
  directory,
  stats: newStats(),
  metrics: new ServerMetrics(),
  resolver: new Resolver({ servers: () => config.DNSServer }),
  // Every recipient is accepted; a DSN would go back to the queue as the pipeline sends it.
  submit: (m) => queue.enqueue(m),
  // Nothing is DKIM-signed here: the bench measures the queue itself.
  sign: () => Promise.resolve(""),
});
await queue.start();
for (let d = 0; d < DOMAINS; d++) {
  dns.add(`dest${d}.test`, { type: "MX", preference: 10, exchange: `mx.dest${d}.test` });
  dns.add(`mx.dest${d}.test`, { type: "A", address: "127.0.0.1" });
}

try {
  const started = performance.now();
  const enqueues: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const id = newQueueId();
    const to = `user${i}@dest${i % DOMAINS}.test`;
    enqueues.push(
      queue.enqueue({ id, from: "bench@origin.test", to: [to], data: message(id, to) }),
    );
    // As SMTP sessions would: a bounded number of enqueues in flight at once.
    if (enqueues.length >= 64) await Promise.all(enqueues.splice(0));
  }
  await Promise.all(enqueues);
  const enqueued = performance.now();
  await sink.waitFor(N, 600_000);
  while (queue.size() > 0) await new Promise((r) => setTimeout(r, 5));
  const done = performance.now();
  const seconds = (done - started) / 1000;
  console.log(
    `messages: ${N} x ${SIZE} B to ${DOMAINS} domain(s), ThreadsQueue ${config.ThreadsQueue}`,
  );
  console.log(`enqueue (durable): ${(N / ((enqueued - started) / 1000)).toFixed(1)} msg/s`);
  console.log(`sink connections: ${sink.connections}`);
  console.log(`queue: ${(N / seconds).toFixed(1)} msg/s`);
} finally {
  await queue.stop();
  directory.close();
  await sink.close();
  dns.close();
  await Deno.remove(base, { recursive: true });
}
