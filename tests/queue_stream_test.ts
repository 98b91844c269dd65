/**
 * SPEC §7 for the outbound queue: a queued message larger than the memory threshold goes
 * to the next hop from its spool file a chunk at a time (dot-stuffed for DATA, as it is
 * for BDAT) and is DKIM-signed in a streamed pass, so the daemon never holds it whole.
 * Unit checks of the streaming pieces (DotStuffer for SMTP, LongLineScan) against their
 * whole-message counterparts, then the real daemon relaying 40 MiB to a sink.
 */
import { Admin, kv } from "./admin_helper.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { dkimpyVerify } from "./helpers/dkimpy.ts";
import { startFakeDns } from "./helpers/fake_dns.ts";
import { startQueueHarness } from "./helpers/queue_harness.ts";
import { startSink } from "./helpers/sink_smtp.ts";
import { startTestServer } from "./helpers/server.ts";
import { memory, waitFor } from "./helpers/stream.ts";
import { dotStuff, DotStuffer } from "../src/message/dot_stuffing.ts";
import { hasLongLine, LongLineScan } from "../src/message/long_lines.ts";
import { concatBytes } from "../src/message/header_rewrite.ts";
import { type EnvelopeRecord, READ_WHOLE_LIMIT, Spool } from "../src/queue/spool.ts";
import { RelaxedBodyHash } from "../src/mailauth/body_hash.ts";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { dkimSign } from "mailauth";
import { newQueueId } from "../src/queue/id.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

function pieces(data: Uint8Array, split: number, step: number): Uint8Array[] {
  const out = [data.subarray(0, split)];
  for (let i = split; i < data.length; i += step) out.push(data.subarray(i, i + step));
  return out;
}

const SAMPLES = [
  "",
  "a",
  ".",
  "\r",
  "\r\n",
  "a\rb",
  "a\r",
  ".\r\n.\r\n",
  "x\r\r\n.y\n.z\r.w",
  "line\r\n\r\n.\r\nend",
  "\n.\r.\r\n\r\r",
  "x".repeat(300) + "\r\n.dot\r\n" + "y".repeat(300) + "\rz\r\n" + "w".repeat(300),
];

Deno.test("DotStuffer for SMTP (bare CR ends a line): dotStuff's output for any pieces", () => {
  for (const sample of SAMPLES) {
    const data = enc.encode(sample);
    const whole = dotStuff(data, { bareCr: "line-end" });
    for (let split = 0; split <= data.length; split += Math.max(1, data.length >> 5)) {
      for (const step of [1, 2, 3, 7, 4096]) {
        const s = new DotStuffer({ bareCr: "line-end" });
        const out = concatBytes([...pieces(data, split, step).map((p) => s.push(p)), s.end()]);
        assertEquals(
          dec.decode(out),
          dec.decode(whole),
          `${JSON.stringify(sample.slice(0, 24))} ${split}/${step}`,
        );
      }
    }
  }
});

Deno.test("LongLineScan: hasLongLine's verdict for any pieces", () => {
  const samples = [
    "a".repeat(998),
    "a".repeat(999),
    "a".repeat(998) + "\r",
    "a".repeat(998) + "\r\n",
    "a".repeat(999) + "\r\n",
    "x\r\n" + "b".repeat(998) + "\r\n" + "c".repeat(998),
    "x\n" + "b".repeat(999) + "\ny",
    "short\r\nlines\r\n",
  ];
  for (const sample of samples) {
    const data = enc.encode(sample);
    const expected = hasLongLine(data);
    for (let split = 0; split <= data.length; split += 97) {
      for (const step of [1, 5, 998, 999, 1000, 4096]) {
        const scan = new LongLineScan();
        for (const p of pieces(data, split, step)) scan.push(p);
        assertEquals(scan.finish(), expected, `${sample.length} ${split}/${step}`);
      }
    }
  }
});

/** mailauth's relaxed body hash of a CRLF message (the reference). */
async function mailauthBodyHash(message: Uint8Array, privateKey: string): Promise<string> {
  const result = await dkimSign(
    Buffer.from(message),
    {
      signatureData: [{
        signingDomain: "example.com",
        selector: "s",
        privateKey,
        canonicalization: "relaxed/relaxed",
        headerList: "From",
      }],
    } as Parameters<typeof dkimSign>[1],
  );
  return /\bbh=([A-Za-z0-9+/=]+)/.exec(result.signatures.replace(/\r\n[ \t]+/g, " "))![1];
}

Deno.test("RelaxedBodyHash: mailauth's bh= for CRLF bodies in any pieces", async () => {
  const { privateKey } = generateKeyPairSync("ed25519", {
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const bodies = [
    "",
    "\r\n",
    "\r\n\r\n\r\n",
    "a",
    "a\r\n",
    "a \t b  \r\n",
    "  lead\r\n\t\r\n \r\nx \r\n\r\n \t\r\n",
    "one\r\n\r\n\r\ntwo\t\t\r\nthree",
    "trailing space at the end  ",
    ("w ".repeat(40) + "\r\n").repeat(3000) + "\r\n".repeat(40000) + "end\r\n\r\n",
  ];
  for (const body of bodies) {
    const message = enc.encode(`From: <a@example.com>\r\n\r\n${body}`);
    const expected = await mailauthBodyHash(message, privateKey);
    const data = enc.encode(body);
    for (const step of [1, 2, 3, 64, 70000]) {
      const h = new RelaxedBodyHash();
      for (const p of pieces(data, 0, step)) h.push(p);
      assertEquals(h.digest(), expected, `${JSON.stringify(body.slice(0, 30))} step ${step}`);
    }
  }
});

Deno.test("spool: an attempt's content is in memory when small, a file range when large", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-spool-" });
  try {
    const spool = new Spool(dir);
    const header = "From: <a@origin.test>\r\nSubject: x\r\n\r\n";
    for (const size of [100, READ_WHOLE_LIMIT + 1]) {
      const id = newQueueId();
      const data = enc.encode(header + "b".repeat(size));
      const env: EnvelopeRecord = {
        v: 1,
        id,
        from: "a@origin.test",
        createdAt: 1000,
        size: data.length,
        smtpUtf8: false,
        eightBit: false,
        attempts: 0,
        nextAttempt: 1000,
        lastError: "",
        rcpts: [{ addr: "b@remote.test", state: "pending", status: "", diag: "", mta: "" }],
      };
      await spool.create(env, data);
      const content = await spool.content(id);
      assertEquals(content.size, data.length);
      assertEquals(content.parts[0] instanceof Uint8Array, size === 100, "in memory when small");
      assertEquals(await content.bytes(), data);
      // A report that does not return the whole message reads its header alone.
      assertEquals(dec.decode(await spool.reportCopy(id, false)), header);
      assertEquals(await spool.reportCopy(id, true), data);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `mib` MiB of text: lines that need dot-stuffing, empty lines, every octet of ASCII text. */
function bigBody(mib: number): string {
  const block = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ !#$%&'()*+,-/\r\n"
    .repeat(200) + ".a line that begins with a dot\r\n..two dots\r\n\r\n.\r\n";
  return block.repeat(Math.ceil((mib << 20) / block.length));
}

Deno.test("queue: a large message with long lines goes by BDAT from its file, or wrapped by DATA", async () => {
  const long = "L".repeat(1500);
  const body = `${long}\r\n${bigBody(1)}.end\r\n`;
  for (const chunking of [true, false]) {
    const dns = await startFakeDns();
    const sink = await startSink({ chunking, pipelining: true, size: 0 });
    dns.add("remote.test", { type: "A", address: "127.0.0.1" });
    const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
    try {
      const id = newQueueId();
      const data = enc.encode(
        `From: <a@origin.test>\r\nTo: <b@remote.test>\r\nSubject: big ${id}\r\n\r\n${body}`,
      );
      assert(data.length > READ_WHOLE_LIMIT, "larger than what is read into memory");
      await h.queue.enqueue({ id, from: "a@origin.test", to: ["b@remote.test"], data });
      const [m] = await sink.waitFor(1, 20_000);
      if (chunking) {
        assertEquals(m.via, "BDAT");
        assertEquals(m.text, dec.decode(data));
      } else {
        assertEquals(m.via, "DATA");
        assert(!m.text.split("\r\n").some((l) => l.length > 998), "every line within 998");
        assertMatch(m.text, /Content-Transfer-Encoding: quoted-printable/);
      }
    } finally {
      await h.close();
      await sink.close();
      dns.close();
    }
  }
});

Deno.test("queue: a 40 MiB message leaves byte-exact, DKIM-signed, without the daemon holding it", async () => {
  const dns = await startFakeDns();
  // The first attempt is refused, so the one measured starts after the message is in.
  let greeted = 0;
  const sink = await startSink({
    pipelining: true,
    size: 0,
    greeting: () => greeted++ === 0 ? "421 4.3.2 not yet" : undefined,
  });
  dns.add("remote.test", { type: "MX", preference: 10, exchange: "mx.remote.test" });
  dns.add("mx.remote.test", { type: "A", address: "127.0.0.1" });
  const srv = await startTestServer({
    config: {
      DNSServer: [dns.server],
      OutboundPort: sink.port,
      QueueRetry: [1],
      MaxMailSize: 64 << 20,
      LogLevel: "info",
    },
  });
  const admin = await Admin.open(srv.ports.admin);
  try {
    await admin.okData("DOMAIN ADD NAME=test.example");
    const rsa = kv(await admin.okData("DKIM ADD DOMAIN=test.example SELECTOR=big"));
    const [name, value] = /^(\S+) TXT "(.*)"$/.exec(rsa.Record)!.slice(1);
    const message = enc.encode(
      "From: Alice <alice@test.example>\r\nTo: bob@remote.test\r\nSubject: large\r\n" +
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <large@test.example>\r\n\r\n" +
        bigBody(40),
    );

    const c = await LineClient.connect(srv.ports.smtp);
    try {
      const reply = async () => (await c.readUntil((l) => /^\d{3} /.test(l), 60_000)).at(-1)!;
      await reply();
      for (const line of ["EHLO client.test", "MAIL FROM:<alice@test.example>"]) {
        await c.send(line);
        assertMatch(await reply(), /^250/);
      }
      await c.send("RCPT TO:<bob@remote.test>");
      assertMatch(await reply(), /^250/);
      await c.send("DATA");
      assertMatch(await reply(), /^354/);
      const stuffed = dotStuff(message);
      for (let i = 0; i < stuffed.length; i += 1 << 20) {
        await c.write(stuffed.subarray(i, i + (1 << 20)));
      }
      assertMatch(await reply(), /^250/);
      await c.send("QUIT");
    } finally {
      c.close();
    }
    // Peak resident memory already includes the admin login's scrypt (128 MiB), so the
    // resident size is sampled from the refused attempt on, while the message goes out.
    const pid = srv.pid();
    await waitFor(() => greeted > 0, "the first attempt", 20_000);
    const before = memory(pid).rss;
    let highest = before;
    const sampler = setInterval(() => highest = Math.max(highest, memory(pid).rss), 10);
    const [sent] = await sink.waitFor(1, 120_000).finally(() => clearInterval(sampler));
    const grown = highest - before;

    // Byte-exact: the daemon's header fields in front, then the message as it was sent.
    const tail = sent.data.subarray(sent.data.length - message.length);
    assert(tail.length === message.length && tail.every((b, i) => b === message[i]), "byte-exact");
    const front = dec.decode(sent.data.subarray(0, sent.data.length - message.length));
    assertMatch(front, /^DKIM-Signature: v=1; a=rsa-sha256; [^]*\r\nReceived: [^]*\r\n$/);
    assertEquals(await dkimpyVerify(sent.data, { [name]: value }), "pass");
    // Read whole and copied to dot-stuff it (the old way), this was twice the message.
    assert(grown < 40, `resident memory grew ${grown.toFixed(1)} MiB for a 40 MiB message`);
    console.log(`resident memory ${before.toFixed(1)} MiB, grew ${grown.toFixed(1)} MiB`);
  } finally {
    admin.close();
    await srv.stop();
    await sink.close();
    dns.close();
  }
});
