/**
 * SPEC §11 against the real thing: a Maildir filled and flagged through Dovecot
 * (Debian's dovecot-imapd on loopback, fed by IMAP CREATE/SUBSCRIBE/APPEND/STORE/
 * EXPUNGE/COPY), imported with `extremail import maildir`; an IMAP client of our server
 * then sees what Dovecot's clients saw: the same folders, UIDVALIDITY, UIDs, flags,
 * keywords, internal dates, message bytes and subscriptions. A second run adds nothing.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { hasDovecot, startDovecot } from "./helpers/dovecot.ts";
import { imapSnapshot, importSite, runImportCommand, type Snapshot } from "./helpers/importing.ts";
import { python, startTestServer, type TestServer } from "./helpers/server.ts";

const FEED = `
import imaplib, sys, time
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice", "dovecot-pw")
def q(name): return '"' + name + '"'
for name in ["Work/Sub", "Sent", "&AMk-t&AOk-", "Lists/deno dev"]:
    assert m.create(q(name))[0] == "OK", name
for name in ["INBOX", "Work/Sub", "&AMk-t&AOk-"]:
    assert m.subscribe(q(name))[0] == "OK", name
def msg(folder, i):
    return ("From: Sender %d <s%d@example.org>\\r\\nTo: alice@example.com\\r\\n"
            "Subject: %s message %d\\r\\nMessage-ID: <%d.%s@example.org>\\r\\n\\r\\n"
            "Body of %d\\r\\nFrom the start of a line\\r\\n.\\r\\nCaf\\xc3\\xa9\\r\\n"
            % (i, i, folder, i, i, folder.replace("/", "."), i)).encode("latin1")
flags = [r"(\\Seen)", r"(\\Seen \\Flagged $Label1)", r"(\\Answered Important)", None,
         r"(\\Draft $Forwarded)", r"(\\Seen $Label1 Important)", r"(\\Seen \\Draft)", r"(\\Seen)"]
day = 86400
for i, f in enumerate(flags):
    when = imaplib.Time2Internaldate(1700000000 + i * day)
    assert m.append("INBOX", f, when, msg("INBOX", i))[0] == "OK"
for i in range(3):
    kw = [r"(Project-X)", r"(\\Flagged Later)", r"(\\Seen Project-X Later $Junk)"][i]
    m.append(q("Work/Sub"), kw, imaplib.Time2Internaldate(1690000000 + i), msg("Work/Sub", i))
for i in range(2):
    m.append("Sent", r"(\\Seen)", imaplib.Time2Internaldate(1680000000 + i), msg("Sent", i))
m.append(q("&AMk-t&AOk-"), None, imaplib.Time2Internaldate(1670000000), msg("Ete", 0))
m.select("INBOX")
assert m.store("2", "+FLAGS", r"($Label2 \\Flagged)")[0] == "OK"
assert m.store("3", "-FLAGS", r"(\\Seen)")[0] == "OK"
# Expunge UID 5: its uidlist line may stay behind, stale.
m.store("5", "+FLAGS", r"(\\Deleted)")
m.expunge()
# Flagged \\Deleted but not expunged: the flag is imported like any other.
assert m.append("INBOX", r"(\\Deleted \\Seen)", None, msg("INBOX", 99))[0] == "OK"
m.select("INBOX")
assert m.copy("1:2", q("Work/Sub"))[0] == "OK"
m.logout()
`;

/** A message delivered by an LDA while Dovecot was not looking: no uidlist entry yet. */
const LDA_TEXT = "From: lda@example.org\nSubject: delivered behind Dovecot's back\n\nbody\n";

Deno.test({
  name: "import maildir: Dovecot's folders, UIDs, UIDVALIDITY, flags, keywords survive",
  ignore: !hasDovecot,
  async fn() {
    const dc = await startDovecot({ alice: "dovecot-pw" });
    const site = await importSite({ "bob@example.com": "bob-secret-1" });
    let srv: TestServer | null = null;
    try {
      await python(FEED, [String(dc.port)]);
      const before = await imapSnapshot(dc.port, "alice", "dovecot-pw");
      await dc.stop();
      const maildir = dc.maildir("alice");
      // The INBOX had UID 5 expunged and 9 appended: the source UIDs have a gap.
      assertEquals(before.folders.INBOX.messages.map((m) => m.uid), [1, 2, 3, 4, 6, 7, 8, 9]);
      // A stale uidlist line above the highest UID, and a file without an entry.
      const dcNext = before.folders.INBOX.uidnext;
      await Deno.writeTextFile(
        join(maildir, "dovecot-uidlist"),
        `${dcNext + 5} :1699999999.M9P9.gone,S=10\n`,
        { append: true },
      );
      const lda = join(maildir, "new", "1700000123.M1P1.lda,S=64");
      await Deno.writeTextFile(lda, LDA_TEXT);
      await Deno.utime(lda, 1700000123, 1700000123);

      const first = await runImportCommand(site.confPath, [
        "maildir",
        "--user",
        "bob@example.com",
        maildir,
      ]);
      assertEquals(first.code, 0, first.stderr);
      const total = Object.values(before.folders).reduce((n, f) => n + f.messages.length, 0) + 1;
      assertMatch(
        first.stdout,
        new RegExp(
          `^imported ${total} messages \\(\\d+ bytes\\) into 4 folders, 0 skipped as already present, 0 errors\\n$`,
        ),
      );

      srv = await startTestServer({ dirBase: site.dirBase });
      const after = await imapSnapshot(srv.ports.imap, "bob@example.com", "bob-secret-1");
      compare(before, after, dcNext);

      // Run again, with the daemon serving the mailbox: nothing is added or renumbered.
      const second = await runImportCommand(site.confPath, [
        "maildir",
        "--user",
        "bob@example.com",
        maildir,
      ]);
      assertEquals(second.code, 0, second.stderr);
      assertEquals(
        second.stdout,
        `imported 0 messages (0 bytes) into 0 folders, ${total} skipped as already present, 0 errors\n`,
      );
      assertEquals(await imapSnapshot(srv.ports.imap, "bob@example.com", "bob-secret-1"), after);
    } finally {
      await srv?.stop();
      await dc.remove();
      await Deno.remove(site.dirBase, { recursive: true });
    }
  },
});

function compare(before: Snapshot, after: Snapshot, dcNext: number): void {
  for (const [name, theirs] of Object.entries(before.folders)) {
    const ours = after.folders[name];
    assert(ours, `folder ${name} missing after import; have ${Object.keys(after.folders)}`);
    assertEquals(ours.uidvalidity, theirs.uidvalidity, `${name} UIDVALIDITY`);
    if (name !== "INBOX") {
      assertEquals(ours.messages, theirs.messages, `${name} messages`);
      assertEquals(ours.uidnext, theirs.uidnext, `${name} UIDNEXT`);
      continue;
    }
    // INBOX: Dovecot's messages as they were, then the LDA's file above the stale entry.
    assertEquals(ours.messages.slice(0, -1), theirs.messages, "INBOX messages");
    const extra = ours.messages[ours.messages.length - 1];
    assertEquals(extra.uid, dcNext + 6);
    assertEquals(extra.flags, []);
    assertEquals(extra.internaldate, 1700000123);
    assertEquals(extra.size, LDA_TEXT.length + LDA_TEXT.split("\n").length - 1);
    assertEquals(ours.uidnext, dcNext + 7);
  }
  // Keywords, each folder with its own letters, came through by name.
  const keywords = (snap: Snapshot) =>
    new Set(
      Object.values(snap.folders).flatMap((f) =>
        f.messages.flatMap((m) => m.flags.filter((k) => !k.startsWith("\\")))
      ),
    );
  assertEquals(
    [...keywords(after)].sort(),
    ["$Junk", "$Label1", "$Label2", "Important", "Later", "Project-X"],
  );
  for (const s of before.subscribed) {
    assert(after.subscribed.includes(s), `subscription ${s} lost: ${after.subscribed}`);
  }
}
