/**
 * SMTP AUTH on submission and SMTPS (RFC 4954, RFC 8314), PlainAuthWithoutTLS, the
 * idle timeout, connection limits and the graceful-shutdown goodbye.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import { DOMAIN, inbox, PASSWORD, readReply, startWorld, withoutTrace } from "./smtp_fixture.ts";

const HOST = "mail.test.example";
const BOB = `bob@${DOMAIN}`;
const plain = (login: string, password: string) => btoa(`\0${login}\0${password}`);

async function open(port: number, tls = false): Promise<LineClient> {
  const c = await LineClient.connect(port, { tls });
  assertEquals((await readReply(c)).text, `220 ${HOST} ESMTP eXtremail`);
  return c;
}

async function expect(c: LineClient, line: string, pattern: RegExp): Promise<string> {
  await c.send(line);
  const r = await readReply(c);
  assertMatch(r.text, pattern, `${line} -> ${r.text}`);
  return r.text;
}

Deno.test("smtp auth: submission, SMTPS, PLAIN, LOGIN, MAP, SASL-IR; shutdown", async (t) => {
  const world = await startWorld([{ name: "bob", map: "bobby" }], { tls: true });
  const { ports } = world.srv;
  try {
    await t.step("submission requires AUTH before MAIL", async () => {
      const c = await open(ports.submission);
      try {
        const ehlo = await expect(c, "EHLO client.example.net", /^250-/);
        assert(ehlo.includes("AUTH PLAIN LOGIN"), ehlo); // 127.0.0.1 is LocalIP
        await expect(c, `MAIL FROM:<${BOB}>`, /^530 5\.7\.0 /);
        await expect(c, "AUTH CRAM-MD5", /^504 5\.5\.4 /);
        const started = Date.now();
        await expect(c, `AUTH PLAIN ${plain(BOB, "wrong")}`, /^535 5\.7\.8 /);
        assert(Date.now() - started >= 900, "failed AUTH is answered after a delay");
        await expect(c, "AUTH PLAIN", /^334 $/);
        await expect(c, "*", /^501 5\.7\.0 /);
        await expect(c, "AUTH LOGIN", /^334 VXNlcm5hbWU6$/);
        await expect(c, btoa(BOB), /^334 UGFzc3dvcmQ6$/);
        await expect(c, btoa(PASSWORD), /^235 2\.7\.0 /);
        await expect(c, `AUTH PLAIN ${plain(BOB, PASSWORD)}`, /^503 5\.5\.1 /);
        await expect(c, `MAIL FROM:<${BOB}>`, /^250 2\.1\.0 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 2\.1\.5 /);
        await expect(c, "DATA", /^354 /);
        await expect(c, "Subject: submitted\r\n\r\nhi\r\n.", /^250 2\.0\.0 Ok: queued as /);
        const stored = (await inbox(world.roots.bob)).map((m) => new TextDecoder().decode(m.bytes));
        assert(stored.some((m) => m.includes("Subject: submitted")));
      } finally {
        c.close();
      }
    });

    await t.step("MAP login and SASL-IR with LOGIN", async () => {
      const c = await open(ports.submission);
      try {
        await expect(c, "EHLO client.example.net", /^250-/);
        // RFC 4616 2: no proxy authorization; an authzid other than bob is refused.
        await expect(
          c,
          `AUTH PLAIN ${btoa(`postmaster@${DOMAIN}\0bobby\0${PASSWORD}`)}`,
          /^535 5\.7\.8 /,
        );
        await expect(c, `AUTH PLAIN ${plain("bobby", PASSWORD)}`, /^235 2\.7\.0 /);
      } finally {
        c.close();
      }
      const e = await open(ports.submission);
      try {
        await expect(e, "EHLO client.example.net", /^250-/);
        // Bob's MAP name as authzid is bob himself.
        await expect(e, `AUTH PLAIN ${btoa(`bobby\0${BOB}\0${PASSWORD}`)}`, /^235 2\.7\.0 /);
      } finally {
        e.close();
      }
      const d = await open(ports.submission);
      try {
        await expect(d, "EHLO client.example.net", /^250-/);
        await expect(d, `AUTH LOGIN ${btoa("bobby")}`, /^334 UGFzc3dvcmQ6$/);
        await expect(d, btoa(PASSWORD), /^235 /);
        await expect(d, "AUTH LOGIN", /^503 5\.5\.1 /);
      } finally {
        d.close();
      }
    });

    await t.step("port 25 offers AUTH but does not require it", async () => {
      const c = await open(ports.smtp);
      try {
        await expect(c, "EHLO client.example.net", /AUTH PLAIN LOGIN/);
        await expect(c, "MAIL FROM:<someone@remote.example>", /^250 /);
        await expect(c, "AUTH PLAIN " + plain(BOB, PASSWORD), /^503 5\.5\.1 /);
        await expect(c, "RSET", /^250 /);
        await expect(c, "AUTH PLAIN =", /^501 5\.5\.2 /);
      } finally {
        c.close();
      }
    });

    await t.step("SMTPS: implicit TLS, submission rules", async () => {
      const c = await open(ports.smtps, true);
      try {
        const ehlo = await expect(c, "EHLO client.example.net", /^250-/);
        assert(!ehlo.includes("STARTTLS"), ehlo);
        await expect(c, `MAIL FROM:<${BOB}>`, /^530 5\.7\.0 /);
        await expect(c, `AUTH PLAIN ${plain(BOB, PASSWORD)}`, /^235 /);
        await expect(c, `MAIL FROM:<${BOB}>`, /^250 /);
      } finally {
        c.close();
      }
    });

    await t.step(
      "shutdown: an idle session gets 421 4.3.2; a DATA transfer completes first",
      async () => {
        const idle = await open(ports.smtp);
        const busy = await open(ports.smtp);
        try {
          await expect(busy, "EHLO client.example.net", /^250-/);
          await expect(busy, "MAIL FROM:<s@remote.example>", /^250 /);
          await expect(busy, `RCPT TO:<${BOB}>`, /^250 /);
          await expect(busy, "DATA", /^354 /);
          await busy.write("Subject: during shutdown\r\n\r\nfirst half\r\n");
          await new Promise((r) => setTimeout(r, 100));
          const stopping = world.srv.stop();
          assertMatch((await readReply(idle)).text, new RegExp(`^421 4\\.3\\.2 ${HOST} `));
          await new Promise((r) => setTimeout(r, 200));
          await busy.write("second half\r\n.\r\n");
          assertMatch((await readReply(busy)).text, /^250 2\.0\.0 Ok: queued as /);
          assertMatch((await readReply(busy)).text, /^421 4\.3\.2 /);
          assertEquals(await stopping, 0);
          const got = (await inbox(world.roots.bob)).map((m) =>
            new TextDecoder().decode(withoutTrace(m.bytes))
          );
          assert(got.includes("Subject: during shutdown\r\n\r\nfirst half\r\nsecond half\r\n"));
        } finally {
          idle.close();
          busy.close();
        }
      },
    );
  } finally {
    await world.close();
  }
});

Deno.test("smtp auth: PlainAuthWithoutTLS never, timeout, limits", async (t) => {
  const world = await startWorld([{ name: "bob" }], {
    tls: true,
    config: { PlainAuthWithoutTLS: "never", TimeoutSMTP: 2, MaxConnectionsPerIP: 4 },
  });
  const { ports } = world.srv;
  try {
    await t.step("no cleartext passwords before STARTTLS", async () => {
      const c = await open(ports.submission);
      try {
        const ehlo = await expect(c, "EHLO client.example.net", /^250-/);
        assert(!ehlo.includes("AUTH"), ehlo);
        assert(ehlo.includes("STARTTLS"), ehlo);
        await expect(c, `AUTH PLAIN ${plain(BOB, PASSWORD)}`, /^538 5\.7\.11 /);
        await expect(c, "STARTTLS", /^220 /);
        await c.startTls();
        const after = await expect(c, "EHLO client.example.net", /^250-/);
        assert(after.includes("AUTH PLAIN LOGIN"), after);
        await expect(c, `AUTH PLAIN ${plain(BOB, PASSWORD)}`, /^235 /);
      } finally {
        c.close();
      }
    });

    await t.step("idle clients get 421 4.4.2", async () => {
      const c = await open(ports.smtp);
      try {
        const started = Date.now();
        assertMatch((await readReply(c, 6000)).text, /^421 4\.4\.2 /);
        assert(Date.now() - started >= 1500);
        assert(await c.closedByPeer());
      } finally {
        c.close();
      }
    });

    await t.step("MaxConnectionsPerIP: 421 4.7.0 naming the host", async () => {
      const held = await Promise.all([1, 2, 3, 4].map(() => open(ports.smtp)));
      try {
        const extra = await LineClient.connect(ports.smtp);
        try {
          assertEquals(
            await extra.readLine(),
            `421 4.7.0 ${HOST} too many connections, try again later`,
          );
          assert(await extra.closedByPeer());
        } finally {
          extra.close();
        }
      } finally {
        for (const c of held) c.close();
      }
    });
  } finally {
    await world.close();
  }
});

Deno.test("smtp: IPIN deny refuses at the greeting and closes", async () => {
  const world = await startWorld([{ name: "bob" }], {}, async (dir) => {
    await dir.addDeny("IPIN", "127.0.0.0/8");
  });
  try {
    const c = await LineClient.connect(world.srv.ports.smtp);
    try {
      assertMatch((await readReply(c)).text, /^554 5\.7\.1 /);
      assert(await c.closedByPeer());
    } finally {
      c.close();
    }
  } finally {
    await world.close();
  }
});
