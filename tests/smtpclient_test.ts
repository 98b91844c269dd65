/**
 * The outbound SMTP client (src/smtpclient/): the pure reply parser over bytes, EHLO
 * keywords, dot-stuffing, and sessions on net/Connection against the sink: client-side
 * STARTTLS, a garbled server, and back-pressure against a server that never reads.
 */
import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import net from "node:net";
import { RFC5321_TIMEOUTS, SmtpClient, SmtpConnectionError } from "../src/smtpclient/client.ts";
import {
  parseEhlo,
  parseReplyLine,
  Reply,
  ReplyParser,
  SmtpProtocolError,
} from "../src/smtpclient/reply.ts";
import { openSession } from "../src/smtpclient/session.ts";
import { transaction } from "../src/smtpclient/transaction.ts";
import { startSink } from "./helpers/sink_smtp.ts";

const enc = new TextEncoder();
const line = (text: string) => enc.encode(text);

Deno.test("reply: multi-line replies, enhanced codes, EHLO keywords", () => {
  const p = new ReplyParser();
  equal(p.push(line("250-mx.test hello")), null);
  equal(p.push(line("250-SIZE 1000")), null);
  equal(p.push(line("250-AUTH PLAIN LOGIN")), null);
  const r = p.push(line("250 PIPELINING"))!;
  equal(r.code, 250);
  const ext = parseEhlo(r);
  deepStrictEqual([...ext.keys()], ["SIZE", "AUTH", "PIPELINING"]);
  equal(ext.get("SIZE"), "1000");
  const bad = new Reply(550, ["5.1.1 no such user", "second line"]);
  equal(bad.enhanced, "5.1.1");
  equal(bad.toString(), "550 5.1.1 no such user second line");
  equal(new Reply(451, ["try later"]).status, "4.0.0");
  equal(new Reply(451, ["5.1.1 class mismatch"]).enhanced, null);
  equal(new ReplyParser().push(line("220"))!.code, 220);
  throws(() => new ReplyParser().push(line("hello")), SmtpProtocolError);
  const q = new ReplyParser();
  q.push(line("250-a"));
  throws(() => q.push(line("251 b")), SmtpProtocolError);
});

Deno.test("reply: one line's code, continuation and text (RFC 5321 §4.2)", () => {
  deepStrictEqual(parseReplyLine(line("250 ok")), { code: 250, more: false, text: "ok" });
  deepStrictEqual(parseReplyLine(line("250-")), { code: 250, more: true, text: "" });
  deepStrictEqual(parseReplyLine(line("354")), { code: 354, more: false, text: "" });
  // RFC 6531 §3.7.4: UTF-8 text is kept; invalid bytes are shown, not refused.
  equal(parseReplyLine(line("550 \u00fcber")).text, "\u00fcber");
  equal(parseReplyLine(new Uint8Array([0x35, 0x35, 0x30, 0x20, 0xff])).text, "\ufffd");
  for (const bad of ["", "25", "150 ok", "600 no", "2x0 ok", "250x", "250\tok", " 250 ok"]) {
    throws(() => parseReplyLine(line(bad)), SmtpProtocolError, JSON.stringify(bad));
  }
  // A fuzz: any bytes give a ReplyLine or SmtpProtocolError, nothing else.
  let seed = 5;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const alphabet = [0x32, 0x35, 0x30, 0x39, 0x20, 0x2d, 0x0d, 0x00, 0xff, 0x41];
  for (let i = 0; i < 3000; i++) {
    const bytes = new Uint8Array(rnd(8)).map(() => alphabet[rnd(alphabet.length)]);
    try {
      const r = parseReplyLine(bytes);
      ok(r.code >= 200 && r.code <= 599);
    } catch (e) {
      if (!(e instanceof SmtpProtocolError)) throw e;
    }
  }
});

const timeouts = { ...RFC5321_TIMEOUTS, connect: 2000, greeting: 3000, command: 3000, tls: 3000 };
const target = (port: number) => ({ host: "sink.test", address: "127.0.0.1", port });

Deno.test("session: client-side STARTTLS in place, EHLO again over TLS", async () => {
  const sink = await startSink({ starttls: true });
  try {
    const client = await openSession(target(sink.port), {
      localName: "client.test",
      timeouts,
      verifyTls: false,
    });
    ok(client.secure);
    ok(!client.ext.has("STARTTLS"), "the EHLO keywords are those given over TLS");
    const r = await transaction(client, {
      from: "a@origin.test",
      recipients: ["b@sink.test"],
      data: enc.encode("Subject: x\r\n\r\nbody\r\n"),
      eightBit: false,
      smtpUtf8: false,
    }, timeouts);
    deepStrictEqual(r.outcomes.map((o) => o.kind), ["sent"]);
    ok(client.usable);
    await client.quit(500);
    const [msg] = await sink.waitFor(1);
    equal(msg.tls, true);
    equal(sink.connections, 1);
  } finally {
    await sink.close();
  }
});

Deno.test("session: a server that sends no SMTP is a connection error", async () => {
  const server = net.createServer((s) => s.write("hello there\r\n"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await rejects(
      SmtpClient.connect(target(port), 2000).then((c) => c.readReply(2000, "greeting")),
      (e: Error) =>
        e instanceof SmtpConnectionError &&
        /answered greeting badly: malformed reply/.test(e.message),
    );
  } finally {
    await new Promise((r) => server.close(() => r(undefined)));
  }
});

Deno.test("back-pressure: a server that never reads our data holds one block, then times out", async () => {
  const sink = await startSink({ stallData: true, size: 0 });
  try {
    const client = await openSession(target(sink.port), {
      localName: "client.test",
      timeouts,
      verifyTls: false,
    });
    // 16 MiB: more than the kernel's socket buffers on both ends take.
    const data = enc.encode(`${"x".repeat(78)}\r\n`.repeat(209_716));
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, client.bufferedOutput)), 2);
    const started = Date.now();
    const r = await transaction(client, {
      from: "a@origin.test",
      recipients: ["b@sink.test", "c@sink.test"],
      data,
      eightBit: false,
      smtpUtf8: false,
    }, { ...timeouts, dataBlock: 300 });
    clearInterval(sampler);
    deepStrictEqual(r.outcomes.map((o) => o.kind), ["temp", "temp"]);
    match(r.outcomes[0].diagnostic, /^451 4\.4\.2 timeout after 300 ms sending to sink\.test/);
    ok(Date.now() - started >= 300);
    ok(most > 0, "the sampler saw the stalled write");
    ok(most <= 128 * 1024, `at most one 64 KiB block waits in our buffer, saw ${most}`);
    ok(!client.usable, "the timed-out connection is dropped");
  } finally {
    await sink.close();
  }
});
