/**
 * /metrics and /healthz of the real daemon (SPEC §10): counters scraped before and after
 * a local delivery, a remote delivery, a deferral, a bounce and failed logins move by
 * exactly the right amounts; the page parses with prometheus_client; /healthz turns 503
 * when DirBase cannot take a file and 200 again when it can.
 */
import { equal, match, ok } from "node:assert/strict";
import { startFakeDns } from "./helpers/fake_dns.ts";
import {
  parseSamples,
  parseWithPrometheusClient,
  prometheusPython,
  type Samples,
  scrape,
  value,
} from "./helpers/metrics.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { python, startTestServer } from "./helpers/server.ts";
import { AdminWire, sendMail, until } from "./helpers/spec.ts";

/** after - before of one sample. */
function delta(before: Samples, after: Samples, name: string, labels = {}): number {
  return value(after, name, labels) - value(before, name, labels);
}

Deno.test("metrics: counters move by the right amounts; the page parses", async () => {
  const dns = await startFakeDns();
  const sink = await startSink({
    rcpt: (to) =>
      to === "later@remote.test"
        ? "451 4.2.0 mailbox busy, try later"
        : to === "nobody@remote.test"
        ? "550 5.1.1 no such user here"
        : undefined,
  });
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("origin.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  const srv = await startTestServer({
    metrics: true,
    // One attempt per message during the test: the deferred one waits an hour.
    config: { DNSServer: [dns.server], OutboundPort: sink.port, QueueRetry: [3600] },
  });
  try {
    const admin = await AdminWire.open(srv.ports.admin);
    await admin.ok("DOMAIN ADD NAME=example.com");
    await admin.ok("USER ADD NAME=joe DOMAIN=example.com PASS=joe-secret");
    admin.close();

    const first = await scrape(srv.ports.metrics);
    match(first.contentType, /^text\/plain; version=0\.0\.4/);
    const before = parseSamples(first.text);

    // A local delivery, then three relayed messages, each waited for in turn so that the
    // later ones find the MX in the DNS cache.
    const send = async (to: string) => {
      const r = await sendMail({ port: srv.ports.smtp, from: "alice@origin.test", to: [to] });
      match(r.data ?? "", /^250 /, `${to}: ${JSON.stringify(r)}`);
    };
    await send("joe@example.com");
    await send("bob@remote.test");
    await sink.waitFor(1);
    await send("later@remote.test");
    await srv.waitForLog(/later@remote\.test.* status=deferred/);
    await send("nobody@remote.test");
    // The DSN to alice@origin.test goes out through the queue to the same sink.
    await sink.waitFor(2);
    await srv.waitForLog(/to=<alice@origin\.test>.* status=sent/);

    // Failed logins: POP3, SMTP AUTH (submission) and the admin port, one each.
    await python(`
import base64, poplib, smtplib, sys
p = poplib.POP3("127.0.0.1", ${srv.ports.pop3})
p.user("joe@example.com")
try:
    p.pass_("wrong")
    sys.exit("POP3 accepted a wrong password")
except poplib.error_proto:
    pass
s = smtplib.SMTP("127.0.0.1", ${srv.ports.submission})
s.ehlo("client.test")
# One AUTH command (smtplib's login() would try every mechanism offered).
code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\\0joe@example.com\\0wrong").decode())
if code != 535:
    sys.exit("SMTP AUTH with a wrong password: %d" % code)
s.quit()
`);
    const wrong = await AdminWire.open(srv.ports.admin, { login: false });
    ok(!(await wrong.cmd("LOGIN not-the-password")).ok);
    wrong.close();

    let after = parseSamples((await scrape(srv.ports.metrics)).text);
    // Sessions end asynchronously after the client closes.
    await until(
      async () => {
        after = parseSamples((await scrape(srv.ports.metrics)).text);
        return ["smtp", "submission", "pop3", "admin"].every((service) =>
          value(after, "extremail_connections_open", { service }) === 0
        );
      },
      10_000,
      "for every connection to be closed",
    );

    const d = (name: string, labels = {}) => delta(before, after, name, labels);
    equal(d("extremail_messages_received_total"), 4, "four messages accepted over SMTP");
    equal(d("extremail_messages_delivered_total", { destination: "local" }), 1);
    equal(d("extremail_delivery_latency_seconds_count", { destination: "local" }), 1);
    // bob@remote.test and the DSN to alice@origin.test.
    equal(d("extremail_messages_delivered_total", { destination: "remote" }), 2);
    equal(d("extremail_delivery_latency_seconds_count", { destination: "remote" }), 2);
    equal(d("extremail_delivery_attempts_total", { result: "sent" }), 2);
    equal(d("extremail_delivery_attempts_total", { result: "deferred" }), 1);
    equal(d("extremail_delivery_attempts_total", { result: "failed" }), 1);
    // Three relayed messages and the DSN went through the queue.
    equal(d("extremail_messages_queued_total"), 4);
    equal(d("extremail_messages_bounced_total"), 1);
    equal(d("extremail_messages_deferred_total"), 1);
    equal(value(after, "extremail_queue_messages"), 1, "the deferred message waits");
    ok(value(after, "extremail_queue_oldest_message_age_seconds") > 0);
    equal(d("extremail_auth_failures_total", { service: "pop3" }), 1);
    equal(d("extremail_auth_failures_total", { service: "smtp" }), 1);
    equal(d("extremail_auth_failures_total", { service: "admin" }), 1);
    equal(d("extremail_auth_failures_total", { service: "imap" }), 0);
    equal(d("extremail_connections_accepted_total", { service: "smtp" }), 4);
    equal(d("extremail_connections_accepted_total", { service: "submission" }), 1);
    equal(d("extremail_connections_accepted_total", { service: "pop3" }), 1);
    equal(d("extremail_connections_accepted_total", { service: "admin" }), 1);
    ok(d("extremail_dns_cache_misses_total") >= 2, "remote.test MX and mx.remote.test A");
    ok(d("extremail_dns_cache_hits_total") >= 2, "later messages found them cached");
    ok(value(after, "extremail_dns_cache_entries") >= 2);
    ok(value(after, "extremail_process_resident_memory_bytes") > 1_000_000);
    // Latency buckets are cumulative and end at the count.
    const local = { destination: "local" };
    equal(
      value(after, "extremail_delivery_latency_seconds_bucket", { ...local, le: "+Inf" }),
      value(after, "extremail_delivery_latency_seconds_count", local),
    );

    const interpreter = prometheusPython();
    if (interpreter) {
      const families = await parseWithPrometheusClient(
        interpreter,
        (await scrape(srv.ports.metrics)).text,
      );
      const received = families.find((f) => f.name === "extremail_messages_received");
      equal(received?.type, "counter");
      equal(received?.samples[0][2], value(after, "extremail_messages_received_total"));
    } else {
      console.warn(
        "metrics e2e: prometheus_client check SKIPPED: no python3 with prometheus_client" +
          " (apt-get install -y python3-prometheus-client)",
      );
    }
  } finally {
    await srv.stop();
    await sink.close();
    dns.close();
  }
});

Deno.test("healthz: 200, 503 while DirBase takes no file, 200 again", async () => {
  const srv = await startTestServer({ metrics: true });
  const dirBase = srv.config.DirBase;
  const moved = `${dirBase}.moved`;
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${srv.ports.metrics}/healthz`);
    return { status: r.status, text: await r.text() };
  };
  try {
    const good = await health();
    equal(good.status, 200, good.text);
    match(good.text, /^ok\n/);
    match(good.text, /listener smtp accepting/);
    match(good.text, /listener admin accepting/);
    // The spool "unmounted": a plain file where DirBase was. Permission bits would not do:
    // the tests may run as root, which ignores them.
    await Deno.rename(dirBase, moved);
    await Deno.writeTextFile(dirBase, "");
    const bad = await health();
    equal(bad.status, 503, bad.text);
    match(bad.text, /^unhealthy\nstore .* not writable/);
    await Deno.remove(dirBase);
    await Deno.rename(moved, dirBase);
    equal((await health()).status, 200);
  } finally {
    await Deno.remove(dirBase).catch(() => {});
    await Deno.rename(moved, dirBase).catch(() => {});
    await srv.stop();
  }
});
