/**
 * SPEC §11 "Import works whether the daemon runs or not": an import into a mailbox the
 * daemon is serving. An IDLE client is told of the new messages (EXISTS); IMAP APPENDs
 * made during the import and the imported messages never share a UID (both assign
 * through the UID list under its lock), and the UIDs clients saw stay after a restart.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { ImapClient } from "./helpers/imap.ts";
import { importSite, runImportCommand } from "./helpers/importing.ts";
import { python, startTestServer } from "./helpers/server.ts";
import { exists } from "../src/store/fsutil.ts";

const USER = "erin@example.com", PASS = "erin-secret-1";
const IMPORTED = 1000;

/** APPENDs to INBOX from before the import starts until the stop file appears. */
const APPENDER = `
import imaplib, os, sys, time
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
started, stop = sys.argv[4], sys.argv[5]
i = 0
while not os.path.exists(stop):
    msg = ("Subject: appended %d\\r\\nMessage-ID: <app.%d@example.org>\\r\\n\\r\\nx\\r\\n" % (i, i))
    typ, data = m.append("INBOX", None, None, msg.encode())
    assert typ == "OK", data
    i += 1
    if i == 1:
        open(started, "w").close()
    time.sleep(0.005)
m.logout()
print(i)
`;

/** UID -> Message-ID of every message in INBOX. */
const UID_MAP = `
import imaplib, json, re, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
m.select("INBOX", readonly=True)
typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
out = {}
for d in data:
    if isinstance(d, tuple):
        uid = int(re.search(rb"UID (\\d+)", d[0]).group(1))
        out[uid] = re.search(rb"<([^>]+)>", d[1]).group(1).decode()
print(json.dumps(out))
`;

Deno.test("import beside the daemon: IDLE gets EXISTS, APPENDs meanwhile get other UIDs", async () => {
  const site = await importSite({ [USER]: PASS });
  const mbox = join(site.dirBase, "big.mbox");
  let text = "";
  for (let i = 0; i < IMPORTED; i++) {
    text += `From sender@example.org Mon Jan  1 00:00:00 2024\n` +
      `Subject: imported ${i}\nMessage-ID: <imp.${i}@example.org>\n\nbody ${i}\n\n`;
  }
  await Deno.writeTextFile(mbox, text);
  const srv = await startTestServer({ dirBase: site.dirBase });
  const idler = await ImapClient.connect(srv.ports.imap);
  try {
    await idler.login(USER, PASS);
    const sel = await idler.cmd("SELECT INBOX");
    assert(sel.lines.includes("* 0 EXISTS"), sel.lines.join("\n"));
    await idler.line.send("i1 IDLE");
    assertMatch(await idler.line.readLine() ?? "", /^\+ /);

    // APPENDs run from before the import starts until after it ended.
    const started = join(site.dirBase, "appender.started"), stop = join(site.dirBase, "stop");
    const appender = python(APPENDER, [String(srv.ports.imap), USER, PASS, started, stop]);
    while (!(await exists(started))) await new Promise((r) => setTimeout(r, 20));
    const imported = await runImportCommand(site.confPath, ["mbox", "--user", USER, mbox]);
    await Deno.writeTextFile(stop, "");
    const appended = Number((await appender).trim());
    assertEquals(imported.code, 0, imported.stderr);
    assertMatch(imported.stdout, new RegExp(`^imported ${IMPORTED} messages`));

    // The idling client hears of every message (in one or several updates).
    const total = IMPORTED + appended;
    let announced = 0;
    const deadline = Date.now() + 15_000;
    while (announced < total && Date.now() < deadline) {
      const line = await idler.line.readLine(Math.max(1, deadline - Date.now()));
      const m = /^\* (\d+) EXISTS$/.exec(line ?? "");
      if (m) announced = Number(m[1]);
    }
    assertEquals(announced, total);
    await idler.line.send("DONE");
    const rest = await idler.line.readUntil((l) => l.startsWith("i1 "));
    assertMatch(rest[rest.length - 1], /^i1 OK/);

    const seen = JSON.parse(await python(UID_MAP, [String(srv.ports.imap), USER, PASS]));
    const ids = Object.values(seen) as string[];
    assertEquals(Object.keys(seen).length, total, "one UID per message");
    assertEquals(new Set(ids).size, total, "every message once");
    assertEquals(ids.filter((id) => id.startsWith("imp.")).length, IMPORTED);

    // What clients saw survives a restart (the UID list is the authority).
    idler.close();
    await srv.stop();
    await srv.restart();
    assertEquals(JSON.parse(await python(UID_MAP, [String(srv.ports.imap), USER, PASS])), seen);
  } finally {
    idler.close();
    await srv.stop();
    await Deno.remove(site.dirBase, { recursive: true });
  }
});
