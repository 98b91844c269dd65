/**
 * Real SMTP clients against the daemon: Python smtplib (plain, STARTTLS + AUTH on
 * submission, implicit TLS, SMTPUTF8 with an 8-bit body) and swaks (PIPELINING,
 * STARTTLS, AUTH PLAIN/LOGIN). Relay refused without AUTH from an untrusted
 * network, allowed after AUTH.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { python, TEST_CERT } from "./helpers/server.ts";
import { DOMAIN, inbox, PASSWORD, startWorld, withoutTrace } from "./smtp_fixture.ts";

const BOB = `bob@${DOMAIN}`;
const ALICE = `alice@${DOMAIN}`;

/** Runs swaks against 127.0.0.1; `transcript` keeps the SMTP dialogue in the output. */
async function swaks(args: string[], transcript = false): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("swaks", {
    args: [
      "--server",
      "127.0.0.1",
      ...(transcript ? [] : ["--hide-all"]),
      "--timeout",
      "20",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    out: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

const texts = async (root: string) =>
  (await inbox(root)).map((m) => new TextDecoder().decode(m.bytes));

Deno.test("smtp clients: smtplib and swaks", async (t) => {
  // 127.0.0.1 is not a trusted network here: relaying needs AUTH, AUTH needs TLS.
  const world = await startWorld([{ name: "bob" }, { name: "alice" }], {
    tls: true,
    config: { LocalIP: ["10.0.0.0/8"] },
  });
  const { ports } = world.srv;
  try {
    await t.step("smtplib: local delivery on port 25, relay refused", async () => {
      const out = await python(
        `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.net")
s.ehlo()
print("auth" in s.esmtp_features)
s.sendmail("someone@remote.example", ["${BOB}"], b"Subject: smtplib plain\\r\\n\\r\\nhello\\r\\n")
try:
    s.sendmail("someone@remote.example", ["victim@elsewhere.example"], b"Subject: relay\\r\\n\\r\\nx\\r\\n")
    print("relayed")
except smtplib.SMTPRecipientsRefused as e:
    code, msg = e.recipients["victim@elsewhere.example"]
    print(code, msg.decode())
s.quit()
`,
        [String(ports.smtp)],
      );
      const lines = out.trim().split("\n");
      assertEquals(lines[0], "False"); // no cleartext AUTH offered outside LocalIP
      assertMatch(lines[1], /^554 5\.7\.1 /);
      assert((await texts(world.roots.bob)).some((m) => m.includes("Subject: smtplib plain")));
    });

    await t.step("smtplib: STARTTLS + AUTH on submission, relay allowed, 8-bit exact", async () => {
      const out = await python(
        `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.net")
s.ehlo()
try:
    s.sendmail("${BOB}", ["${ALICE}"], b"x")
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code)
s.starttls(context=ctx)
s.ehlo()
s.login("${BOB}", "${PASSWORD}")
body = "Subject: caf\\u00e9\\r\\n\\r\\n\\u00e9t\\u00e9 \\u20ac\\r\\n.\\r\\n..\\r\\n".encode("utf-8")
s.sendmail("${BOB}", ["${ALICE}", "friend@elsewhere.example"], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
print("sent")
s.quit()
`,
        [String(ports.submission), TEST_CERT],
      );
      assertEquals(out.trim().split("\n"), ["530", "sent"]);
      const expected = "Subject: café\r\n\r\nété €\r\n.\r\n..\r\n";
      const got = (await inbox(world.roots.alice)).map((m) =>
        new TextDecoder().decode(withoutTrace(m.bytes))
      );
      assert(got.includes(expected), JSON.stringify(got));
    });

    await t.step("smtplib: implicit TLS (SMTPS)", async () => {
      const out = await python(
        `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.net", context=ctx)
s.login("${BOB}", "${PASSWORD}")
s.sendmail("${BOB}", ["${ALICE}"], b"Subject: over smtps\\r\\n\\r\\nhi\\r\\n")
s.quit()
print("ok")
`,
        [String(ports.smtps), TEST_CERT],
      );
      assertEquals(out.trim(), "ok");
      assert((await texts(world.roots.alice)).some((m) => m.includes("Subject: over smtps")));
    });

    await t.step("swaks: PIPELINING on port 25", async () => {
      const r = await swaks([
        "--port",
        String(ports.smtp),
        "--pipeline",
        "--from",
        "sender@remote.example",
        "--to",
        `${BOB},nobody@${DOMAIN}`,
        "--header",
        "Subject: swaks pipelined",
        "--body",
        "line one\n.\nline three",
      ], true);
      assert(r.code === 0, r.out);
      assertMatch(r.out, /<\*\* 550 5\.1\.1 /);
      assertMatch(r.out, /250 2\.0\.0 Ok: queued as [0-9A-Z]{14}/);
      const got = await texts(world.roots.bob);
      const m = got.find((x) => x.includes("Subject: swaks pipelined"));
      assert(m, "pipelined message delivered");
      assert(m.includes("\r\nline one\r\n.\r\nline three\r\n"), m);
    });

    await t.step("swaks: STARTTLS with AUTH PLAIN and LOGIN on submission", async () => {
      for (const mech of ["PLAIN", "LOGIN"]) {
        const r = await swaks([
          "--port",
          String(ports.submission),
          "--tls",
          "--auth",
          mech,
          "--auth-user",
          BOB,
          "--auth-password",
          PASSWORD,
          "--from",
          BOB,
          "--to",
          ALICE,
          "--header",
          `Subject: swaks ${mech}`,
        ]);
        assertEquals(r.code, 0, r.out);
        assert((await texts(world.roots.alice)).some((m) => m.includes(`Subject: swaks ${mech}`)));
      }
      const bad = await swaks([
        "--port",
        String(ports.submission),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        BOB,
        "--auth-password",
        "wrong",
        "--from",
        BOB,
        "--to",
        ALICE,
      ]);
      assert(bad.code !== 0, "wrong password refused");
    });
  } finally {
    await world.close();
  }
});
