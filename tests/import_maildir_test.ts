/**
 * `extremail import maildir` (SPEC §11) on the Maildir layouts that are not Dovecot's
 * (that one is import_dovecot_test.ts): Courier's (courierimapuiddb, the keywords
 * directory, courierimapsubscribed), our own (another eXtremail's user), and a mutt-style
 * directory of plain Maildirs. What the daemon would show is read through the store.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { importSite, runImportCommand } from "./helpers/importing.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { readSubscriptions } from "../src/imap/subscriptions.ts";

const USER = "frank@example.com", PASS = "frank-secret-1";

async function write(path: string, text: string, mtime?: number): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
  if (mtime !== undefined) await Deno.utime(path, mtime, mtime);
}

async function maildir(path: string): Promise<void> {
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(join(path, sub), { recursive: true });
}

/** UID -> [subject, flags, internal date (s)] of a folder as the daemon shows it. */
async function view(site: { dirBase: string }, root: string, name: string) {
  const store = new MailStore(join(site.dirBase, "data"), 2);
  try {
    const f = await store.openFolder(root, name);
    assert(f, `folder ${name} missing`);
    const out: Record<number, [string, string[], number]> = {};
    for (const m of f.messages.values()) {
      const text = new TextDecoder().decode(await f.read(m));
      out[m.uid] = [
        /Subject: (.*)\r\n/.exec(text)![1],
        f.flagNames(m).sort(),
        (await f.internalDate(m)) / 1000,
      ];
    }
    return { uidValidity: f.uidValidity, uidNext: f.uidNext, messages: out };
  } finally {
    await store.close();
  }
}

Deno.test("import maildir: Courier's UIDs, keywords and subscriptions", async () => {
  const site = await importSite({ [USER]: PASS });
  const src = join(site.dirBase, "courier");
  try {
    await maildir(src);
    await maildir(join(src, ".Archive.2019"));
    await write(join(src, "cur", "1100000001.100_1.host:2,S"), "Subject: one\n\nx\n", 1100000001);
    await write(join(src, "cur", "1100000002.200_2.host:2,FR"), "Subject: two\n\ny\n", 1100000002);
    await write(join(src, "new", "1100000003.300_3.host"), "Subject: three\n\nz\n", 1100000003);
    // courierimapuiddb: version 1, base names; UID 2 is stale (its file is gone).
    await write(
      join(src, "courierimapuiddb"),
      "1 1099999999 8\n4 1100000001.100_1.host\n2 1100000000.1_1.gone\n6 1100000002.200_2.host\n",
    );
    await write(
      join(src, "courierimapkeywords", ":list"),
      "$Label1\nReview\n\n1100000001.100_1.host:0 1\n1100000002.200_2.host:1\n",
    );
    // A pending update, newer than :list, for message two.
    await write(join(src, "courierimapkeywords", ".3.1100000002.200_2.host"), "$Label1\n");
    await write(
      join(src, ".Archive.2019", "cur", "1000000000.1_1.host:2,S"),
      "Subject: old\n\nw\n",
      1000000000,
    );
    await write(join(src, "courierimapsubscribed"), "INBOX\nINBOX.Archive.2019\n");

    const r = await runImportCommand(site.confPath, ["maildir", "--user", USER, src]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /^imported 4 messages \(\d+ bytes\) into 2 folders, 0 skipped/);

    const root = site.roots[USER];
    const inbox = await view(site, root, "INBOX");
    assertEquals(inbox.uidValidity, 1099999999);
    assertEquals(inbox.messages, {
      4: ["one", ["$Label1", "Review", "\\Seen"], 1100000001],
      6: ["two", ["$Label1", "\\Answered", "\\Flagged"], 1100000002],
      8: ["three", [], 1100000003],
    });
    assertEquals(inbox.uidNext, 9);
    const archive = await view(site, root, "Archive/2019");
    assertEquals(Object.values(archive.messages), [["old", ["\\Seen"], 1000000000]]);
    assert((await readSubscriptions(root)).includes("Archive/2019"));
  } finally {
    await Deno.remove(site.dirBase, { recursive: true });
  }
});

Deno.test("import maildir: another eXtremail's mailbox, and mutt's plain Maildirs", async () => {
  const site = await importSite({ [USER]: PASS, "grace@example.com": "grace-secret-1" });
  try {
    // Grace's mailbox, made by our own store, moves to Frank's (a host migration).
    const store = new MailStore(join(site.dirBase, "data"), 2);
    const grace = site.roots["grace@example.com"];
    await store.createFolder(grace, "Projects/Été");
    const a = await store.append(
      grace,
      "INBOX",
      new TextEncoder().encode("Subject: a\r\n\r\n1\r\n"),
      {
        flags: "S",
        internalDate: 1500000000_000,
      },
    );
    const projectsFolder = (await store.openFolder(grace, "Projects/Été"))!;
    const letters = await projectsFolder.lettersFor(["$Important", "\\Flagged"]);
    await store.append(grace, "Projects/Été", new TextEncoder().encode("Subject: b\r\n\r\n2\r\n"), {
      flags: letters,
      internalDate: 1500000001_000,
    });
    await store.close();

    const r = await runImportCommand(site.confPath, ["maildir", "--user", USER, grace]);
    assertEquals(r.code, 0, r.stderr);
    const frank = site.roots[USER];
    const got = await view(site, frank, "INBOX");
    // Frank's INBOX never gave out a UID: it takes Grace's UIDVALIDITY and UIDs.
    assertEquals(got.uidValidity, a.uidValidity);
    assertEquals(got.messages, { [a.uid]: ["a", ["\\Seen"], 1500000000] });
    const projects = await view(site, frank, "Projects/Été");
    assertEquals(Object.values(projects.messages), [[
      "b",
      ["$Important", "\\Flagged"],
      1500000001,
    ]]);

    // mutt: a directory of plain Maildirs, nested ones included.
    const mutt = join(site.dirBase, "Mail");
    await maildir(join(mutt, "inbox"));
    await maildir(join(mutt, "lists", "deno"));
    await write(join(mutt, "inbox", "cur", "1.1.h:2,S"), "Subject: m1\n\nx\n", 1600000000);
    await write(join(mutt, "lists", "deno", "new", "2.2.h"), "Subject: m2\n\ny\n", 1600000001);
    const m = await runImportCommand(site.confPath, ["maildir", "--user", USER, mutt]);
    assertEquals(m.code, 0, m.stderr);
    assertMatch(m.stdout, /^imported 2 messages \(\d+ bytes\) into 2 folders/);
    const inbox2 = await view(site, frank, "INBOX");
    assertEquals(Object.values(inbox2.messages).map((x) => x[0]), ["a", "m1"]);
    const deno = await view(site, frank, "lists/deno");
    assertEquals(Object.values(deno.messages), [["m2", [], 1600000001]]);

    const none = await runImportCommand(site.confPath, [
      "maildir",
      "--user",
      USER,
      join(site.dirBase, "nothing-here"),
    ]);
    assertEquals(none.code, 1);
    assertMatch(none.stderr, /nothing-here/);
  } finally {
    await Deno.remove(site.dirBase, { recursive: true });
  }
});

Deno.test("import maildir: a folder name we cannot store is an error; the rest comes in", async () => {
  const site = await importSite({ [USER]: PASS });
  const src = join(site.dirBase, "odd");
  try {
    await maildir(src);
    await maildir(join(src, ".bell\x07folder"));
    await write(join(src, "cur", "1.1.h:2,S"), "Subject: fine\n\nx\n");
    await write(join(src, ".bell\x07folder", "cur", "2.2.h:2,"), "Subject: lost\n\ny\n");
    const r = await runImportCommand(site.confPath, ["maildir", "--user", USER, src]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stdout,
      `imported 1 messages (${"Subject: fine\r\n\r\nx\r\n".length} bytes) into 1 folders, ` +
        "0 skipped as already present, 1 errors\n",
    );
    assertMatch(r.stderr, /bell.folder \(1 messages not imported\): .*control characters/);
  } finally {
    await Deno.remove(site.dirBase, { recursive: true });
  }
});
