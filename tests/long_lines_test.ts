/**
 * SPEC §6 long lines: text lines over 998 octets are accepted and stored unchanged; the
 * queue sends such a message with BDAT to a next hop that offers CHUNKING, and otherwise
 * folds its header and re-encodes long body parts as quoted-printable (our own DKIM
 * signature is made after that, so it verifies), leaving a body signed by someone else
 * as it is.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { dkimpyVerify } from "./helpers/dkimpy.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { ADMIN_PASSWORD, startTestServer } from "./helpers/server.ts";
import { hasLongLine, wrapLongLines } from "../src/message/long_lines.ts";
import { decodeQuotedPrintable } from "../src/message/transfer_encoding.ts";
import { newQueueId } from "../src/queue/id.ts";
import { dnsRecord } from "../src/mailauth/keys.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LONG = "word ".repeat(399) + "end"; // 1998 octets, spaces to fold at
const RUN = "x".repeat(1500); // no white space at all

function longMessage(extraHeaders = ""): string {
  return `From: a@test.example\r\nTo: b@remote.test\r\nSubject: long\r\n` +
    `X-Long: ${LONG}\r\n${extraHeaders}\r\nfirst line\r\n${RUN}\r\nlast line\r\n`;
}

Deno.test("wrapLongLines: header folded, body quoted-printable, decodes to the same text", () => {
  const out = wrapLongLines(enc.encode(longMessage()));
  assert(!hasLongLine(out), "every line within 998 octets");
  const text = dec.decode(out);
  assertMatch(
    text,
    /\r\nMIME-Version: 1\.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/,
  );
  const body = out.subarray(text.indexOf("\r\n\r\n") + 4);
  assertEquals(dec.decode(decodeQuotedPrintable(body)), `first line\r\n${RUN}\r\nlast line\r\n`);
  const xlong = /\r\nX-Long: ([^]*?)\r\n(?=[A-Z])/.exec(text)![1];
  assertEquals(xlong.replace(/\r\n/g, ""), LONG, "unfolding gives the field back");

  const multipart =
    "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
    `--B\r\nContent-Type: text/plain\r\n\r\nshort\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>${RUN}</p>\r\n--B--\r\n`;
  const mp = dec.decode(wrapLongLines(enc.encode(multipart)));
  assert(mp.includes("--B\r\nContent-Type: text/plain\r\n\r\nshort\r\n"), "short part untouched");
  assertMatch(
    mp,
    /Content-Type: text\/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>x{70,75}=\r\n/,
  );

  const signed = "DKIM-Signature: v=1; d=other.example; b=abc\r\n" + longMessage();
  const kept = dec.decode(wrapLongLines(enc.encode(signed)));
  assert(
    kept.endsWith(`\r\n\r\nfirst line\r\n${RUN}\r\nlast line\r\n`),
    "someone else's signed body is not re-encoded",
  );
});

Deno.test("queue: BDAT with CHUNKING, wrapped and then signed without; dkimpy verifies", async () => {
  const dns = await startFakeDns();
  const chunking = await startSink({ chunking: true });
  const plain = await startSink({});
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  try {
    for (const [sink, via] of [[chunking, "BDAT"], [plain, "DATA"]] as const) {
      const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
      try {
        const key = await h.ctx.auth.keys.add("test.example", "ll", "rsa");
        const record = dnsRecord(key);
        const data = enc.encode(longMessage());
        await h.queue.enqueue({
          id: newQueueId(),
          from: "a@test.example",
          to: ["b@remote.test"],
          data,
          dkimDomain: "test.example",
        });
        const [m] = await sink.waitFor(1);
        assertEquals(m.via, via);
        if (via === "BDAT") {
          assert(m.text.endsWith(dec.decode(data)), "sent unchanged after the signature");
        } else {
          assert(!hasLongLine(m.data));
          assertMatch(m.text, /Content-Transfer-Encoding: quoted-printable/);
        }
        assertEquals(await dkimpyVerify(m.data, { [record.name]: record.value }), "pass", via);
      } finally {
        await h.close();
      }
    }
  } finally {
    await chunking.close();
    await plain.close();
    dns.close();
  }
});

Deno.test("smtp: a message with lines over 998 octets is accepted and stored unchanged", async () => {
  const srv = await startTestServer();
  try {
    const admin = await LineClient.connect(srv.ports.admin);
    const status = (l: string) => l.startsWith("+OK") || l.startsWith("-ERR");
    await admin.readUntil(status);
    for (
      const cmd of [
        `LOGIN ${ADMIN_PASSWORD}`,
        "DOMAIN ADD NAME=test.example",
        "USER ADD NAME=b DOMAIN=test.example PASS=pw",
      ]
    ) {
      await admin.send(cmd);
      assertMatch((await admin.readUntil(status)).at(-1)!, /^\+OK/);
    }
    admin.close();
    const c = await LineClient.connect(srv.ports.smtp);
    const reply = async () => (await c.readUntil((l) => /^\d{3} /.test(l))).at(-1)!;
    await reply();
    for (
      const line of [
        "EHLO client.test",
        "MAIL FROM:<a@test.example>",
        "RCPT TO:<b@test.example>",
        "DATA",
      ]
    ) {
      await c.send(line);
      await reply();
    }
    const body = `Subject: long\r\n\r\n${RUN}\r\n`;
    await c.write(`${body}.\r\n`);
    assertMatch(await reply(), /^250 2\.0\.0/);
    await c.send("QUIT");
    c.close();
    const pop = await LineClient.connect(srv.ports.pop3);
    await pop.readLine();
    for (const cmd of ["USER b@test.example", "PASS pw"]) {
      await pop.send(cmd);
      assertMatch((await pop.readLine())!, /^\+OK/);
    }
    await pop.send("RETR 1");
    const lines = await pop.readUntil((l) => l === ".");
    assert(lines.includes(RUN), "the 1500-octet line is stored as it came");
    pop.close();
  } finally {
    await srv.stop();
  }
});
