/**
 * End to end through the real daemon with Python smtplib: the pipeline behind the SMTP
 * service (port 25 and submission with STARTTLS + AUTH), observed in the Maildirs.
 */
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Directory } from "../src/directory/directory.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { python, startTestServer, TEST_CERT } from "./helpers/server.ts";

async function inbox(store: MailStore, name: string): Promise<string[]> {
  const root = store.userRoot({ name, domain: "test.example", dir: "" });
  const folder = await store.openFolder(root, "INBOX");
  if (!folder) return [];
  const out: string[] = [];
  for (const m of folder.messages.values()) {
    out.push(new TextDecoder().decode(await folder.read(m)));
  }
  return out;
}

const CLIENT = `
import json, smtplib, ssl, sys
port, sub, cert = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = {}
body = (b"From: alice@remote.example\\r\\nTo: team@test.example\\r\\nSubject: caf\\xc3\\xa9\\r\\n"
        b"Message-ID: <e2e-1@remote.example>\\r\\n\\r\\n.leading dot\\r\\n8-bit: \\xc3\\xa4\\xc3\\xb6\\r\\n..two\\r\\n")
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("client.e2e.example")
out["mail"] = s.mail("alice@remote.example", ["BODY=8BITMIME"])[0]
out["rcpt"] = [s.rcpt(r)[0] for r in ["team@test.example", "nobody@test.example", "x@elsewhere.example"]]
code, msg = s.data(body)
out["data"] = [code, msg.decode()]
s.quit()
ctx = ssl.create_default_context(cafile=cert)
s = smtplib.SMTP("127.0.0.1", sub)
s.ehlo("laptop.e2e.example")
s.starttls(context=ctx)
s.ehlo("laptop.e2e.example")
s.login("bob@test.example", "secret")
code, msg = s.mail("bob@test.example")
out["sub_rcpt"] = [s.rcpt(r)[0] for r in ["carol@test.example", "carol@test.example"]]
code, msg = s.data(b"From: bob@test.example\\r\\nSubject: lunch\\r\\n\\r\\nNoon?\\r\\n")
out["sub_data"] = [code, msg.decode()]
s.quit()
print(json.dumps(out))
`;

Deno.test("e2e: smtplib through the daemon, local delivery, aliases, relay, submission, autoreply", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-delivery-e2e-" });
  const data = join(base, "data");
  const dir = Directory.open(data);
  await dir.addDomain("test.example");
  await dir.addUser({ name: "bob", domain: "test.example", password: "secret" });
  await dir.addUser({ name: "carol", domain: "test.example" });
  await dir.addAlias("team", "test.example", ["bob@test.example", "carol@test.example"]);
  await dir.modUser("carol", "test.example", {
    autoReply: true,
    autoReplySubject: "Away",
    autoReplyText: "Back soon.",
  });
  dir.close();
  // Loopback is not a trusted network here, so relaying needs AUTH.
  const srv = await startTestServer({
    dirBase: base,
    tls: true,
    config: { LocalIP: ["10.255.0.0/16"] },
  });
  const store = new MailStore(data, srv.config.HashDirs);
  try {
    const out = JSON.parse(
      await python(CLIENT, [String(srv.ports.smtp), String(srv.ports.submission), TEST_CERT]),
    );
    equal(out.mail, 250);
    assertEquals(out.rcpt, [250, 550, 554]);
    match(out.data[1], /^2\.0\.0 Ok: queued as [0-9A-Z]{14}$/);
    assertEquals(out.sub_rcpt, [250, 250]);
    match(out.sub_data[1], /^2\.0\.0 Ok: queued as /);
    const queueId = out.data[1].split(" ").pop();

    const [teamMsg, autoReply] = await inbox(store, "bob");
    match(
      teamMsg,
      // SPEC §8: the checks' results (temperror here: no DNS) sit above our Received.
      /^Return-Path: <alice@remote\.example>\r\nAuthentication-Results: mail\.test\.example;[^]*?spf=temperror[^]*?\r\nReceived-SPF: temperror [^]*?\r\nReceived: from client\.e2e\.example \(\[127\.0\.0\.1\]\)\r\n\tby mail\.test\.example with ESMTP id /,
    );
    ok(teamMsg.includes(`id ${queueId}\r\n\tfor <team@test.example>; `));
    // Byte-exact body: dot-unstuffed, 8-bit kept, CRLF.
    ok(
      teamMsg.endsWith(
        "Message-ID: <e2e-1@remote.example>\r\n\r\n.leading dot\r\n8-bit: äö\r\n..two\r\n",
      ),
    );
    // Log lines are written in batches (within 10 ms): wait for it rather than read at once.
    await srv.waitForLog(new RegExp(queueId));

    const carol = await inbox(store, "carol");
    equal(carol.length, 2);
    match(
      carol[1],
      /^Return-Path: <bob@test\.example>\r\nReceived: from laptop\.e2e\.example \(\[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher [^)]+\)\r\n\t\(authenticated as bob@test\.example\)\r\n\tby mail\.test\.example with ESMTPSA id /,
    );

    // carol's autoresponder answered bob (its answer to alice went to the outbound queue).
    ok(autoReply, "bob should have carol's autoreply");
    match(
      autoReply,
      /^Return-Path: <>\r\nFrom: <carol@test\.example>\r\nTo: <bob@test\.example>\r\nSubject: Away\r\n/,
    );
    match(autoReply, /\r\nAuto-Submitted: auto-replied\r\n/);
    if (Deno.env.get("SHOW_LOGS")) console.log(srv.logs());
  } finally {
    await srv.stop();
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
});
