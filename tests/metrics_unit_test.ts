/**
 * The metrics registry and the HTTP handler without a daemon: the text format 0.0.4
 * (HELP/TYPE lines, label escaping, cumulative histogram buckets), checked by our reader
 * and by Python's prometheus_client parser; /metrics and /healthz answers; the health
 * checks (store writable, listeners accepting).
 */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { checkHealth } from "../src/metrics/health.ts";
import { handleMetricsRequest } from "../src/metrics/http.ts";
import { Registry } from "../src/metrics/registry.ts";
import { ServerMetrics, SPAM_ACTIONS } from "../src/metrics/server_metrics.ts";
import {
  parseSamples,
  parseWithPrometheusClient,
  prometheusPython,
  value,
} from "./helpers/metrics.ts";
import { testUnless } from "./helpers/skip.ts";

Deno.test("registry: counters, gauges and histograms in the text format", () => {
  const r = new Registry();
  const c = r.counter("t_requests_total", "Requests\nby path \\ kind", ["path"]);
  const g = r.gauge("t_queue_messages", "Messages");
  const h = r.histogram("t_latency_seconds", "Latency", [0.1, 1, 10]);
  c.inc({ path: 'a"b\\c\nd' });
  c.inc({ path: "/x" }, 2);
  g.set(7);
  h.observe(0.05);
  h.observe(0.5, undefined, 2);
  h.observe(100);
  const text = r.render();
  match(text, /^# HELP t_requests_total Requests\\nby path \\\\ kind$/m);
  match(text, /^# TYPE t_requests_total counter$/m);
  match(text, /^t_requests_total\{path="a\\"b\\\\c\\nd"\} 1$/m);
  match(text, /^# TYPE t_latency_seconds histogram$/m);
  ok(text.endsWith("\n"));
  const s = parseSamples(text);
  equal(value(s, "t_requests_total", { path: "/x" }), 2);
  equal(value(s, "t_requests_total", { path: 'a"b\\c\nd' }), 1);
  equal(value(s, "t_queue_messages"), 7);
  // Buckets are cumulative; +Inf equals the count.
  equal(value(s, "t_latency_seconds_bucket", { le: "0.1" }), 1);
  equal(value(s, "t_latency_seconds_bucket", { le: "1" }), 3);
  equal(value(s, "t_latency_seconds_bucket", { le: "10" }), 3);
  equal(value(s, "t_latency_seconds_bucket", { le: "+Inf" }), 4);
  equal(value(s, "t_latency_seconds_count"), 4);
  equal(value(s, "t_latency_seconds_sum"), 0.05 + 1 + 100);
});

Deno.test("registry: names, labels and counters are checked", () => {
  const r = new Registry();
  throws(() => r.counter("t_requests", "no _total"), /must end in _total/);
  throws(() => r.gauge("t-bad", "dash"), /bad metric name/);
  throws(() => r.gauge("t_x", "reserved label", ["le"]), /bad label name/);
  const c = r.counter("t_a_total", "a", ["kind"]);
  throws(() => r.counter("t_a_total", "again"), /exists twice/);
  throws(() => c.inc(), /needs the label kind/);
  throws(() => c.inc({ kind: "x", extra: "y" }), /takes the labels kind/);
  throws(() => c.inc({ kind: "x" }, -1), /cannot go down/);
});

Deno.test("server metrics: every SPEC §10 series is present before the first event", () => {
  const m = new ServerMetrics();
  m.live.queue = () => ({ length: 3, oldestCreatedAt: Date.now() - 5000 });
  m.live.dnsCacheEntries = () => 12;
  const s = parseSamples(m.render());
  for (
    const name of [
      "extremail_messages_received_total",
      "extremail_messages_queued_total",
      "extremail_messages_bounced_total",
      "extremail_messages_deferred_total",
      "extremail_dns_cache_hits_total",
      "extremail_dns_cache_misses_total",
    ]
  ) equal(value(s, name), 0, name);
  for (const destination of ["local", "remote"]) {
    equal(value(s, "extremail_messages_delivered_total", { destination }), 0);
    equal(value(s, "extremail_delivery_latency_seconds_count", { destination }), 0);
  }
  for (const result of ["sent", "deferred", "failed"]) {
    equal(value(s, "extremail_delivery_attempts_total", { result }), 0);
  }
  for (const protocol of ["smtp", "pop3", "imap", "admin"]) {
    equal(value(s, "extremail_auth_failures_total", { service: protocol }), 0);
  }
  for (const action of SPAM_ACTIONS) {
    equal(value(s, "extremail_spam_verdicts_total", { action }), 0);
  }
  equal(value(s, "extremail_queue_messages"), 3);
  ok(value(s, "extremail_queue_oldest_message_age_seconds") >= 5);
  equal(value(s, "extremail_dns_cache_entries"), 12);
  ok(value(s, "extremail_process_resident_memory_bytes") > 1_000_000);
  ok(value(s, "extremail_process_heap_used_bytes") > 0);

  // Recording: one copy per recipient, latency per copy, sent attempts are remote copies.
  m.delivered("local", Date.now() - 20, 2);
  m.attempted(["sent", "temp", "perm", "sent"], Date.now() - 3000);
  const after = parseSamples(m.render());
  equal(value(after, "extremail_messages_delivered_total", { destination: "local" }), 2);
  equal(value(after, "extremail_delivery_latency_seconds_count", { destination: "local" }), 2);
  equal(value(after, "extremail_messages_delivered_total", { destination: "remote" }), 2);
  equal(value(after, "extremail_delivery_attempts_total", { result: "sent" }), 2);
  equal(value(after, "extremail_delivery_attempts_total", { result: "deferred" }), 1);
  equal(value(after, "extremail_delivery_attempts_total", { result: "failed" }), 1);
  equal(
    value(after, "extremail_delivery_latency_seconds_bucket", { destination: "remote", le: "1" }),
    0,
    "3 s old copies are not under 1 s",
  );
  equal(
    value(after, "extremail_delivery_latency_seconds_bucket", { destination: "remote", le: "5" }),
    2,
  );
  // Later deliveries go to the same series (their cells are looked up once).
  m.delivered("local", Date.now() - 20, 3);
  const again = parseSamples(m.render());
  equal(value(again, "extremail_messages_delivered_total", { destination: "local" }), 5);
  equal(value(again, "extremail_delivery_latency_seconds_count", { destination: "local" }), 5);
});

const PYTHON = prometheusPython();
testUnless(
  PYTHON
    ? null
    : "no python3 with prometheus_client (apt-get install -y python3-prometheus-client)",
  {
    name: "server metrics: the page parses with prometheus_client",
    async fn() {
      const m = new ServerMetrics();
      m.connectionOpened("smtp", () => {});
      m.delivered("local", Date.now(), 1);
      m.authFailures.inc({ service: "imap" });
      const families = await parseWithPrometheusClient(PYTHON!, m.render());
      const byName = new Map(families.map((f) => [f.name, f]));
      // prometheus_client names a counter's family without _total.
      equal(byName.get("extremail_auth_failures")?.type, "counter");
      equal(byName.get("extremail_delivery_latency_seconds")?.type, "histogram");
      equal(byName.get("extremail_connections_open")?.type, "gauge");
      const imap = byName.get("extremail_auth_failures")!.samples.find((s) =>
        s[1].service === "imap"
      );
      deepStrictEqual(imap, ["extremail_auth_failures_total", { service: "imap" }, 1]);
      for (const f of families) ok(f.name.startsWith("extremail_"), f.name);
    },
  },
);

Deno.test("http: /metrics content type, /healthz 200/503, 404 and 405", async () => {
  let healthy = true;
  const opts = {
    render: () => "x_total 1\n",
    health: () => Promise.resolve({ ok: healthy, lines: [healthy ? "fine" : "store broken"] }),
  };
  const get = (path: string, method = "GET") =>
    handleMetricsRequest(new Request(`http://127.0.0.1${path}`, { method }), opts);
  const metrics = await get("/metrics");
  equal(metrics.status, 200);
  match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  equal(await metrics.text(), "x_total 1\n");
  equal((await get("/healthz")).status, 200);
  healthy = false;
  const sick = await get("/healthz");
  equal(sick.status, 503);
  match(await sick.text(), /^unhealthy\nstore broken\n$/);
  equal((await get("/other")).status, 404);
  const post = await get("/metrics", "POST");
  equal(post.status, 405);
  equal(post.headers.get("allow"), "GET, HEAD");
});

Deno.test("health: a listener down or a DirBase that takes no file is unhealthy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-health-" });
  try {
    const listeners = [{ name: "smtp", listening: true }, { name: "imap", listening: true }];
    const sources = { dirBase: () => dir, listeners: () => listeners };
    const good = await checkHealth(sources);
    ok(good.ok, good.lines.join("\n"));
    deepStrictEqual([...Deno.readDirSync(dir)], [], "the probe file is removed");
    listeners[1].listening = false;
    const down = await checkHealth(sources);
    ok(!down.ok);
    ok(down.lines.includes("listener imap down"), down.lines.join("\n"));
    listeners[1].listening = true;
    // A file where the directory should be: nothing can be created below it, even as root.
    const gone = join(dir, "spool");
    await Deno.writeTextFile(gone, "");
    const broken = await checkHealth({ dirBase: () => gone, listeners: () => listeners });
    ok(!broken.ok);
    match(broken.lines[0], /^store .*spool not writable: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
