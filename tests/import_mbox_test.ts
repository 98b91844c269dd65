/**
 * `extremail import mbox` (SPEC §11) on files written by real tools: Python's
 * mailbox.mbox (mboxo quoting, Status/X-Status flags) and mutt (Content-Length, no
 * quoting). Messages come back over IMAP byte for byte, apart from line endings; a
 * second run adds nothing; --dry-run writes nothing; unreadable files are errors.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { imapSnapshot, importSite, runImportCommand } from "./helpers/importing.ts";
import { python, startTestServer, type TestServer } from "./helpers/server.ts";
import { exists } from "../src/store/fsutil.ts";

const USER = "carol@example.com", PASS = "carol-secret-1";
const dec = new TextDecoder();

/** Messages with LF line endings and the tricky lines an mbox must carry through. */
const MESSAGES: { text: string; flags: string; when: number }[] = [
  {
    text: "From: Alice <alice@example.org>\nSubject: tricky From lines\n\n" +
      "From here the body starts\nFrom: looks like a header\nFrom  two spaces\n" +
      "from lower case\n From indented\nFromage\nFrom\n\n" +
      "From alice@example.org Thu Dec  6 04:42:48 2024\nFrom the end\n",
    flags: "RO",
    when: Date.UTC(2024, 11, 6, 4, 42, 48),
  },
  {
    // Ends with empty lines of its own (the separator's is not one of them).
    text: "Subject: 8-bit\nContent-Type: text/plain; charset=iso-8859-1\n\nCaf\xe9 cr\xe8me\n\n\n",
    flags: "O",
    when: Date.UTC(2021, 1, 3, 0, 0, 0),
  },
  { text: "Subject: no body\n\n", flags: "", when: Date.UTC(2022, 5, 6, 7, 8, 9) },
  {
    text: "From: Bob <bob@example.org>\nSubject: flags\n\nanswered, flagged, deleted\n",
    flags: "RODFA",
    when: Date.UTC(2023, 0, 2, 3, 4, 5),
  },
];

const WRITE_MBOX = `
import json, mailbox, sys, time
box = mailbox.mbox(sys.argv[1], create=True)
for m in json.loads(sys.argv[2]):
    msg = mailbox.mboxMessage(m["text"].encode("latin1"))
    msg.set_from("MAILER-DAEMON", time.gmtime(m["when"] / 1000))
    if m["flags"]:
        msg.set_flags(m["flags"])
    box.add(msg)
box.flush()
box.close()
`;

/** BODY[] of every message of a folder (base64), in UID order. */
const FETCH_BODIES = `
import base64, imaplib, json, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
m.select('"%s"' % sys.argv[4], readonly=True)
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
print(json.dumps([base64.b64encode(d[1]).decode() for d in data if isinstance(d, tuple)]))
`;

async function bodies(srv: TestServer, folder: string): Promise<string[]> {
  const out = await python(FETCH_BODIES, [String(srv.ports.imap), USER, PASS, folder]);
  return (JSON.parse(out) as string[]).map((b) =>
    String.fromCharCode(...Uint8Array.from(atob(b), (c) => c.charCodeAt(0)))
  );
}

const crlf = (text: string) => text.replaceAll("\n", "\r\n");

/** Writes two messages with mutt (batch mode, a record mbox); null without mutt. */
async function muttMbox(dir: string): Promise<string | null> {
  const record = join(dir, "mutt.mbox");
  const rc = join(dir, "muttrc");
  await Deno.writeTextFile(
    rc,
    `set sendmail="/bin/true"\nset record="${record}"\nset copy=yes\nset mbox_type=mbox\n` +
      `set from="carol@example.com"\nset use_from=yes\nset charset="utf-8"\n`,
  );
  for (const [subject, body] of [["tricky one", MUTT_BODY], ["second", "just text\n"]]) {
    const child = new Deno.Command("mutt", {
      args: ["-n", "-F", rc, "-s", subject, "dave@example.com"],
      env: { HOME: dir },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(body));
    await w.close();
    const out = await child.output();
    if (!out.success) throw new Error(`mutt failed: ${dec.decode(out.stderr)}`);
  }
  return record;
}

const MUTT_BODY = "From here starts trouble\n>From already quoted\nbody line\n\n" +
  "From the start of a paragraph\n";

const hasMutt = new Deno.Command("sh", { args: ["-c", "command -v mutt"] }).outputSync().success;

Deno.test("import mbox: Python's and mutt's files round-trip; a second run adds nothing", async () => {
  const site = await importSite({ [USER]: PASS });
  const dir = join(site.dirBase, "src");
  await Deno.mkdir(dir);
  let srv: TestServer | null = null;
  try {
    const pyMbox = join(dir, "python.mbox");
    await python(WRITE_MBOX, [pyMbox, JSON.stringify(MESSAGES)]);
    // Python quoted the body's From lines (mboxo): they must come back unquoted.
    assertMatch(await Deno.readTextFile(pyMbox), /\n>From here the body starts\n/);

    const first = await runImportCommand(site.confPath, ["mbox", "--user", USER, pyMbox]);
    assertEquals(first.code, 0, first.stderr);
    const size = MESSAGES.reduce((n, m) => n + crlf(m.text).length, 0);
    assertEquals(
      first.stdout,
      `imported 4 messages (${size} bytes) into 1 folders, 0 skipped as already present, 0 errors\n`,
    );
    let mutt: string | null = null;
    if (hasMutt) {
      mutt = await muttMbox(dir);
      const r = await runImportCommand(site.confPath, [
        "mbox",
        "--user",
        USER,
        "--folder",
        "Mail/Sent by mutt",
        mutt!,
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /^imported 2 messages \(\d+ bytes\) into 1 folders, 0 skipped/);
    }

    srv = await startTestServer({ dirBase: site.dirBase });
    const got = await bodies(srv, "INBOX");
    assertEquals(got, MESSAGES.map((m) => crlf(m.text)));
    const snap = await imapSnapshot(srv.ports.imap, USER, PASS);
    assertEquals(
      snap.folders.INBOX.messages.map((m) => [m.uid, m.flags, m.internaldate]),
      [
        [1, ["\\Seen"], MESSAGES[0].when / 1000],
        [2, [], MESSAGES[1].when / 1000],
        [3, [], MESSAGES[2].when / 1000],
        [4, ["\\Answered", "\\Deleted", "\\Flagged", "\\Seen"], MESSAGES[3].when / 1000],
      ],
    );
    if (mutt) {
      const [tricky, second] = await bodies(srv, "Mail/Sent by mutt");
      // mboxcl2: taken by Content-Length, nothing unquoted, the mbox headers gone.
      assert(tricky.endsWith(`\r\n\r\n${crlf(MUTT_BODY)}`), tricky);
      assertMatch(tricky, /^Date: .*\r\nFrom: .*carol@example\.com>\r\nTo: dave@example\.com\r\n/);
      assertMatch(tricky, /\r\nSubject: tricky one\r\n/);
      assertMatch(tricky, /\r\nLines: 5\r\n/);
      assert(!/^(Status|Content-Length):/im.test(tricky), tricky);
      assert(second.endsWith("\r\n\r\njust text\r\n"), second);
      const flags = snap.folders["Mail/Sent by mutt"].messages.map((m) => m.flags);
      assertEquals(flags, [["\\Seen"], ["\\Seen"]]);
    }

    // Again, with the daemon running: everything is already there.
    const again = await runImportCommand(site.confPath, ["mbox", "--user", USER, pyMbox]);
    assertEquals(
      again.stdout,
      "imported 0 messages (0 bytes) into 0 folders, 4 skipped as already present, 0 errors\n",
    );
    assertEquals(again.code, 0);
    if (mutt) {
      const r = await runImportCommand(site.confPath, [
        "mbox",
        "--user",
        USER,
        "--folder",
        "Mail/Sent by mutt",
        mutt,
      ]);
      assertMatch(r.stdout, /^imported 0 messages \(0 bytes\) into 0 folders, 2 skipped/);
    }
    assertEquals(await imapSnapshot(srv.ports.imap, USER, PASS), snap);
  } finally {
    await srv?.stop();
    await Deno.remove(site.dirBase, { recursive: true });
  }
});

Deno.test("import mbox: --dry-run writes nothing; unreadable files are errors (exit 1)", async () => {
  const site = await importSite({ [USER]: PASS });
  try {
    const good = join(site.dirBase, "good.mbox");
    await Deno.writeTextFile(
      good,
      "From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nx\n\n" +
        "From a@b Mon Jan  1 00:00:01 2024\nSubject: two\n\ny\n",
    );
    const notMbox = join(site.dirBase, "notes.txt");
    await Deno.writeTextFile(notMbox, "Subject: this is no mbox\n\nat all\n");
    const root = site.roots[USER];

    const dry = await runImportCommand(site.confPath, [
      "mbox",
      "--dry-run",
      "--user",
      USER,
      "--folder",
      "Imported",
      good,
    ]);
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(
      dry.stdout,
      "imported 2 messages (38 bytes) into 1 folders, 0 skipped as already present, 0 errors\n",
    );
    assertMatch(dry.stderr, /dry run/);
    assert(!(await exists(join(root, ".Imported"))), "dry run created the folder");

    const r = await runImportCommand(site.confPath, [
      "mbox",
      "--user",
      USER,
      good,
      join(site.dirBase, "missing.mbox"),
      notMbox,
    ]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stdout,
      "imported 2 messages (38 bytes) into 1 folders, 0 skipped as already present, 2 errors\n",
    );
    assertMatch(r.stderr, /missing\.mbox: .*No such file/);
    assertMatch(r.stderr, /notes\.txt: not an mbox file/);

    if (Deno.uid() === 0) {
      // Root over a DirBase of the daemon's own user would leave files it cannot use.
      const data = join(site.dirBase, "data");
      await Deno.chown(data, 65534, 65534);
      const asRoot = await runImportCommand(site.confPath, ["mbox", "--user", USER, good]);
      await Deno.chown(data, 0, 0);
      assertEquals(asRoot.code, 1);
      assertMatch(asRoot.stderr, /belongs to uid 65534.*runuser -u/s);
      assertEquals(asRoot.stdout, "");
    }

    const usage = await runImportCommand(site.confPath, ["mbox", "--user", USER]);
    assertEquals(usage.code, 64);
    const elsewhere = join(site.dirBase, "elsewhere.toml");
    await Deno.writeTextFile(elsewhere, `DirBase = "${join(site.dirBase, "no-such-base")}"\n`);
    const wrongConf = await runImportCommand(elsewhere, ["mbox", "--user", USER, good]);
    assertEquals(wrongConf.code, 1);
    assertMatch(wrongConf.stderr, /no directory in DirBase .*no-such-base/);
    assert(!(await exists(join(site.dirBase, "no-such-base"))), "made a DirBase");
    const nobody = await runImportCommand(site.confPath, ["mbox", "--user", "x@example.com", good]);
    assertEquals(nobody.code, 1);
    assertMatch(nobody.stderr, /no user x@example\.com/);
    // The fix it names is a command the admin port knows (SPEC §4).
    assertMatch(nobody.stderr, /USER ADD NAME=x DOMAIN=example\.com first/);
  } finally {
    await Deno.remove(site.dirBase, { recursive: true });
  }
});
