/**
 * Unit tests and fuzzing of the pure SMTP parsers: command lines, paths and ESMTP
 * parameters, the DATA reader (dot-stuffing, end of data, smuggling), BDAT content
 * checks and SASL decoding.
 */
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import {
  isAddressLiteral,
  mailParams,
  parseBdat,
  parseCommandLine,
  parseParams,
  parsePathArgument,
} from "../src/smtp/command.ts";
import { MAX_TEXT_LINE } from "../src/message/line_endings.ts";
import { DataReader } from "../src/smtp/data.ts";
import { ByteBuffer } from "../src/message/byte_buffer.ts";
import { SmtpError } from "../src/smtp/replies.ts";
import { DeliverySlots } from "../src/smtp/slots.ts";
import { loginText, parseAuthCommand, plainCredentials, responseBytes } from "../src/smtp/sasl.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SmtpError) return `${e.reply.code} ${e.reply.enhanced}`;
    throw e;
  }
  return "ok";
}

Deno.test("command line: verb and argument", () => {
  assertEquals(parseCommandLine(enc.encode("mail FROM:<a@b.c>")), {
    verb: "MAIL",
    arg: "FROM:<a@b.c>",
  });
  assertEquals(parseCommandLine(enc.encode("QUIT")), { verb: "QUIT", arg: "" });
  assertEquals(parseCommandLine(enc.encode("NOOP   x y  ")), { verb: "NOOP", arg: "x y" });
  assertEquals(parseCommandLine(enc.encode("")), { verb: "", arg: "" });
  assertEquals(code(() => parseCommandLine(enc.encode("RSET\rMAIL"))), "500 5.5.2");
  assertEquals(code(() => parseCommandLine(new Uint8Array([0x4e, 0xff, 0xfe]))), "500 5.5.2");
});

Deno.test("paths: MAIL and RCPT", () => {
  assertEquals(parsePathArgument("FROM:<a@b.c>", "FROM").address, "a@b.c");
  assertEquals(parsePathArgument("from: <a@b.c>", "FROM").address, "a@b.c");
  assertEquals(parsePathArgument("FROM:a@b.c", "FROM").address, "a@b.c");
  assertEquals(parsePathArgument("FROM:<>", "FROM").address, "");
  assertEquals(parsePathArgument("TO:<@r1.org,@r2.org:u@d.org>", "TO").address, "u@d.org");
  assertEquals(parsePathArgument('TO:<"a b>c"@d.org>', "TO").address, '"a b>c"@d.org');
  assertEquals(parsePathArgument("TO:<Postmaster>", "TO").address, "Postmaster");
  assertEquals(parsePathArgument("TO:<u@[127.0.0.1]>", "TO").address, "u@[127.0.0.1]");
  assertEquals(code(() => parsePathArgument("TO:<>", "TO")), "501 5.1.3");
  assertEquals(code(() => parsePathArgument("TO:<a@b", "TO")), "501 5.1.3");
  assertEquals(code(() => parsePathArgument("TO:<a>", "TO")), "501 5.1.3");
  assertEquals(code(() => parsePathArgument("TO:<a@-b.c>", "TO")), "501 5.1.3");
  assertEquals(code(() => parsePathArgument("FROM:<a..b@c.d>", "FROM")), "501 5.1.7");
  assertEquals(code(() => parsePathArgument("FROM <a@b.c>", "FROM")), "501 5.5.4");
  assertEquals(code(() => parsePathArgument("FROM:", "FROM")), "501 5.5.4");
  assertEquals(code(() => parsePathArgument("TO:<a\x00b@c.d>", "TO")), "501 5.1.3");
  const long = "x".repeat(250) + "@example.org";
  assertEquals(code(() => parsePathArgument(`TO:<${long}>`, "TO")), "501 5.1.3");
});

Deno.test("paths: SMTPUTF8 (RFC 6531)", () => {
  assertEquals(code(() => parsePathArgument("FROM:<jörg@exämple.org>", "FROM")), "553 5.6.7");
  const p = parsePathArgument("FROM:<jörg@exämple.org> SMTPUTF8", "FROM");
  assertEquals(p.address, "jörg@exämple.org");
  assertEquals(mailParams(p.params).smtpUtf8, true);
  assertEquals(
    parsePathArgument("TO:<δοκιμή@παράδειγμα.δοκιμή>", "TO", { smtpUtf8: true }).address,
    "δοκιμή@παράδειγμα.δοκιμή",
  );
});

Deno.test("ESMTP parameters", () => {
  const p = parsePathArgument("FROM:<a@b.c> size=1000 BODY=8bitmime AUTH=<>", "FROM");
  assertEquals(mailParams(p.params), { size: 1000, body: "8BITMIME" });
  assertEquals(code(() => mailParams(parseParams("SIZE=x"))), "501 5.5.4");
  assertEquals(code(() => mailParams(parseParams("SIZE"))), "501 5.5.4");
  assertEquals(code(() => mailParams(parseParams("BODY=BINARYMIME"))), "555 5.5.4");
  assertEquals(code(() => mailParams(parseParams("MT-PRIORITY=1"))), "555 5.5.4");
  assertEquals(code(() => parseParams("SIZE=1 SIZE=2")), "501 5.5.4");
  assertEquals(code(() => parseParams("SIZE=")), "501 5.5.4");
  assertEquals(code(() => parseParams("=1")), "501 5.5.4");
});

Deno.test("address literals", () => {
  assert(isAddressLiteral("[192.0.2.1]"));
  assert(isAddressLiteral("[IPv6:2001:db8::1]"));
  assert(!isAddressLiteral("[300.0.0.1]"));
  assert(!isAddressLiteral("192.0.2.1"));
});

Deno.test("BDAT arguments", () => {
  assertEquals(parseBdat("100"), { size: 100, last: false });
  assertEquals(parseBdat("0 last"), { size: 0, last: true });
  assertEquals(code(() => parseBdat("")), "501 5.5.4");
  assertEquals(code(() => parseBdat("-1")), "501 5.5.4");
  assertEquals(code(() => parseBdat("10 FIRST")), "501 5.5.4");
});

/** Feeds `wire` to a DataReader in pieces of `step` bytes, as a connection would. */
function readAll(wire: Uint8Array, step: number, max = 0) {
  const r = new DataReader(max, new ByteBuffer());
  let buffered = new Uint8Array(0);
  let pos = 0;
  while (!r.done && pos < wire.length) {
    const next = wire.subarray(pos, Math.min(wire.length, pos + step));
    pos += next.length;
    const joined = new Uint8Array(buffered.length + next.length);
    joined.set(buffered);
    joined.set(next, buffered.length);
    const used = r.feed(joined);
    buffered = joined.slice(used);
  }
  return { r, rest: dec.decode(buffered) + dec.decode(wire.subarray(pos)) };
}

Deno.test("DATA: dot-unstuffing and the end of data, in every split", () => {
  const wire = enc.encode("Subject: x\r\n\r\n..leading dot\r\n.\r\n...\r\nend\r\n.\r\nQUIT\r\n");
  for (const step of [1, 2, 3, 5, 7, 64, 4096]) {
    const { r, rest } = readAll(wire, step);
    assert(r.done);
    assertEquals(dec.decode(r.body.bytes()), "Subject: x\r\n\r\n.leading dot\r\n");
    assertEquals(rest, "...\r\nend\r\n.\r\nQUIT\r\n");
    assert(!r.bareNewline && !r.lineTooLong && !r.tooLarge);
  }
  const empty = readAll(enc.encode(".\r\n"), 1);
  assert(empty.r.done);
  assertEquals(empty.r.body.length, 0);
});

Deno.test("DATA: SMTP smuggling sequences never end the data", () => {
  for (const trick of ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r"]) {
    const text = `Subject: x\r\n\r\nbody${trick}MAIL FROM:<evil@x.org>\r\n.\r\n`;
    for (const step of [1, 3, 4096]) {
      const { r, rest } = readAll(enc.encode(text), step);
      assert(r.done, JSON.stringify(trick));
      assertEquals(rest, "");
      assert(r.bareNewline, `bare newline flagged for ${JSON.stringify(trick)}`);
      assert(dec.decode(r.body.bytes()).includes("MAIL FROM:<evil@x.org>"));
    }
  }
});

Deno.test("DATA: a bare CR is found wherever it is; a CR before LF is none, split or not", () => {
  const long = "L".repeat(5000); // past the partial line held back (4096): read in pieces
  const cases: [string, boolean][] = [
    ["a\rb\r\n", true],
    ["\rab\r\n", true],
    ["ab\r\r\n", true],
    [`${long}\rx${long}\r\n`, true],
    [`${long}\r\n${long}\r\n`, false],
    ["ab\r\ncd\r\n", false],
    ["\r\n\r\n", false],
  ];
  for (const [body, bare] of cases) {
    const wire = enc.encode(`Subject: x\r\n\r\n${body}.\r\n`);
    for (const step of [1, 2, 3, 100, 4097, 65536]) {
      const { r, rest } = readAll(wire, step);
      assert(r.done && rest === "", `${JSON.stringify(body.slice(0, 12))} step ${step}`);
      assertEquals(r.bareNewline, bare, `${JSON.stringify(body.slice(0, 12))} step ${step}`);
      assertEquals(dec.decode(r.body.bytes()), `Subject: x\r\n\r\n${body}`);
    }
  }
});

Deno.test("DATA: 8-bit and NUL bytes are kept byte-exact", () => {
  const body = new Uint8Array([..."Subject: é\r\n\r\n"].map((c) => c.charCodeAt(0)));
  const payload = new Uint8Array([...body, 0x00, 0xff, 0x80, 0xc3, 0xa9, 13, 10]);
  const wire = new Uint8Array([...payload, 0x2e, 13, 10]);
  const { r } = readAll(wire, 2);
  assertEquals([...r.body.bytes()], [...payload]);
});

Deno.test("DATA: line length and size limits", () => {
  const okLine = "a".repeat(MAX_TEXT_LINE);
  assert(!readAll(enc.encode(`${okLine}\r\n.\r\n`), 100).r.lineTooLong);
  // A stuffed dot does not count (the line is measured unstuffed).
  assert(!readAll(enc.encode(`.${okLine}\r\n.\r\n`), 100).r.lineTooLong);
  const long = readAll(enc.encode(`${okLine}a\r\n.\r\n`), 100).r;
  assert(long.lineTooLong && long.done);
  const huge = readAll(enc.encode(`${"b".repeat(100_000)}\r\n.\r\n`), 8192).r;
  assert(huge.lineTooLong && huge.done);
  const big = readAll(enc.encode(`${"c\r\n".repeat(100)}.\r\n`), 50, 100).r;
  assert(big.tooLarge && big.done);
  assertEquals(big.size, 300);
  assert(big.body.length <= 100);
});

Deno.test("SASL: SMTP replies for PLAIN and LOGIN responses, cancel", () => {
  assertEquals(plainCredentials(btoa("\0bob@example.org\0secret")), {
    authzid: "",
    authcid: "bob@example.org",
    password: "secret",
  });
  // The authzid is checked against the directory after the password (src/sasl/plain.ts).
  assertEquals(plainCredentials(btoa("alice\0bob\0pw")).authzid, "alice");
  assertEquals(code(() => plainCredentials(btoa("nonul"))), "501 5.5.2");
  assertEquals(code(() => plainCredentials(btoa("\0\0pw"))), "501 5.5.2");
  assertEquals(code(() => plainCredentials("=")), "501 5.5.2");
  assertEquals(code(() => responseBytes("not base64!")), "501 5.5.2");
  assertEquals(code(() => responseBytes("QR==")), "501 5.5.2", "non-canonical");
  assertEquals(code(() => responseBytes("*")), "501 5.7.0");
  assertEquals(responseBytes("=").length, 0);
  assertEquals(loginText(btoa("bobby")), "bobby");
  assertEquals(code(() => loginText(btoa("\xff"))), "501 5.5.2");
  assertEquals(parseAuthCommand("plain AGJvYgBwdw=="), {
    mechanism: "PLAIN",
    initial: "AGJvYgBwdw==",
  });
  assertEquals(code(() => parseAuthCommand("")), "501 5.5.4");
});

Deno.test("fuzz: parsers never throw anything but SmtpError, the reader never loops", () => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = [13, 10, 46, 0, 0xff, 60, 62, 64, 58, 32, 61, 34, 92, 65, 97, 0xc3, 0xa9];
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rnd() * 80);
    const bytes = new Uint8Array(len);
    for (let j = 0; j < len; j++) {
      bytes[j] = rnd() < 0.6 ? alphabet[Math.floor(rnd() * alphabet.length)] : rnd() * 256;
    }
    const text = dec.decode(bytes);
    for (
      const fn of [
        () => parseCommandLine(bytes),
        () => parsePathArgument("FROM:" + text, "FROM"),
        () => parsePathArgument("TO:<" + text + ">", "TO", { smtpUtf8: true }),
        () => mailParams(parseParams(text)),
        () => parseBdat(text),
        () => plainCredentials(text),
        () => loginText(text),
      ]
    ) {
      try {
        fn();
      } catch (e) {
        if (!(e instanceof SmtpError)) throw e;
      }
    }
    const wire = new Uint8Array([...bytes, 13, 10, 46, 13, 10]);
    const { r } = readAll(wire, 1 + Math.floor(rnd() * 10));
    assert(r.done, `reader must find the end in ${JSON.stringify(text)}`);
  }
});

Deno.test("errors carry codes", () => {
  assertThrows(() => parseBdat("x"), SmtpError);
});

Deno.test("ThreadsSMTP: N workers; a free worker takes everything waiting as one batch", async () => {
  const slots = new DeliverySlots(() => 2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = new Map<number, () => void>();
  const job = (i: number) =>
    slots.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((r) => gates.set(i, r));
      running--;
      return i;
    });
  const tick = () => new Promise((r) => setTimeout(r, 1));
  const jobs = [0, 1, 2, 3, 4].map(job);
  await tick();
  // Two workers, one message each; three wait.
  assertEquals(order, [0, 1]);
  assertEquals([slots.active, slots.waiting], [2, 3]);
  gates.get(0)!();
  await tick();
  // The free worker takes all three waiting, together, in arrival order.
  assertEquals(order, [0, 1, 2, 3, 4]);
  assertEquals([slots.active, slots.waiting], [2, 0]);
  // A later arrival waits until a worker's whole batch is done.
  const late = job(5);
  gates.get(1)!();
  await tick();
  assertEquals(order, [0, 1, 2, 3, 4, 5]);
  for (const i of [2, 3, 4, 5]) gates.get(i)!();
  assertEquals(await Promise.all([...jobs, late]), [0, 1, 2, 3, 4, 5]);
  assertEquals(peak, 4);
  assertEquals([slots.active, slots.waiting], [0, 0]);
  // A failing delivery frees its worker.
  await slots.run(() => Promise.reject(new Error("x"))).catch(() => {});
  assertEquals(slots.active, 0);
});
