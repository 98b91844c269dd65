/**
 * Real clients against the daemon: mbsync (isync) syncing a mailbox both ways, and
 * mutt in batch mode (under script(1) for a terminal) reading and flagging. Skipped
 * where the programs are not installed (`apt-get install -y isync mutt`).
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { firstReason, have, testUnless } from "./helpers/skip.ts";

const USER = "dave@example.com", PASS = "pw-dave";

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} failed (${out.code}):\n${text.slice(-4000)}`);
  return text;
}

async function listFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(dir, sub))) names.push(join(dir, sub, e.name));
  }
  return names.sort();
}

testUnless(have("mbsync") ? null : "mbsync is not installed (apt-get install -y isync)", {
  name: "imap: mbsync syncs a mailbox both ways",
  async fn() {
    const seed = await seedUsers({ [USER]: PASS });
    const root = seed.roots[USER];
    for (let i = 0; i < 3; i++) await seed.store.deliver([{ root }], message({ subject: `s${i}` }));
    const srv = await startTestServer({ dirBase: seed.dirBase });
    const home = await Deno.makeTempDir({ prefix: "extremail-mbsync-" });
    const local = join(home, "local");
    await Deno.mkdir(local);
    const rc = join(home, "mbsyncrc");
    await Deno.writeTextFile(
      rc,
      [
        "IMAPAccount test",
        "Host 127.0.0.1",
        `Port ${srv.ports.imap}`,
        `User ${USER}`,
        `Pass ${PASS}`,
        "SSLType None",
        "AuthMechs PLAIN",
        "",
        "IMAPStore remote",
        "Account test",
        "",
        "MaildirStore local",
        `Path ${local}/`,
        `Inbox ${local}/INBOX`,
        "SubFolders Verbatim",
        "",
        "Channel test",
        "Far :remote:",
        "Near :local:",
        "Patterns *",
        "Create Both",
        "Expunge Both",
        "SyncState *",
        "",
      ].join("\n"),
    );
    const sync = () => run("mbsync", ["-c", rc, "-a"], { HOME: home, PATH: Deno.env.get("PATH")! });
    try {
      await sync();
      let files = await listFiles(join(local, "INBOX"));
      equal(files.length, 3);
      for (const f of ["Archive", "Drafts", "Junk", "Sent", "Trash"]) {
        ok((await Deno.stat(join(local, f))).isDirectory, f);
      }
      // Local changes: a new message, a flag, a new folder with a message.
      await Deno.writeFile(
        join(local, "INBOX", "new", "1700000000.local1.host"),
        message({ subject: "from laptop" }),
      );
      const first = files[0];
      await Deno.rename(first, first.replace(/(:2,[A-Z]*)?$/, (m) => (m || ":2,") + "F"));
      await Deno.mkdir(join(local, "Projects", "cur"), { recursive: true });
      await Deno.mkdir(join(local, "Projects", "new"));
      await Deno.mkdir(join(local, "Projects", "tmp"));
      await Deno.writeFile(
        join(local, "Projects", "cur", "1700000001.local2.host:2,S"),
        message({ subject: "project" }),
      );
      // Server-side change: delete one message over IMAP.
      const c = await ImapClient.connect(srv.ports.imap);
      await c.login(USER, PASS);
      await c.cmd("SELECT INBOX");
      await c.cmd("UID STORE 3 +FLAGS (\\Deleted)");
      await c.cmd("EXPUNGE");
      await sync();
      // Server now has the laptop's message and flag and the new folder.
      await c.cmd("NOOP");
      const r = await c.cmd("UID FETCH 1:* (FLAGS ENVELOPE)");
      const fetches = r.lines.filter((l) => l.includes(" FETCH ("));
      equal(fetches.length, 3, r.lines.join("\n"));
      ok(fetches.some((l) => l.includes("\\Flagged")), r.lines.join("\n"));
      ok(fetches.some((l) => l.includes('"from laptop"')));
      const st = await c.cmd("STATUS Projects (MESSAGES UNSEEN)");
      equal(st.lines[0], '* STATUS "Projects" (MESSAGES 1 UNSEEN 0)');
      c.close();
      // And the local side lost the message expunged on the server.
      files = await listFiles(join(local, "INBOX"));
      equal(files.length, 3);
      // A third run has nothing to do and changes nothing.
      await sync();
      equal((await listFiles(join(local, "INBOX"))).length, 3);
    } finally {
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});

testUnless(
  firstReason(
    [!have("mutt"), "mutt is not installed (apt-get install -y mutt)"],
    [!have("script"), "script(1) is not installed (apt-get install -y bsdutils)"],
  ),
  {
    name: "imap: mutt in batch mode reads and flags",
    async fn() {
      const seed = await seedUsers({ [USER]: PASS });
      const root = seed.roots[USER];
      for (let i = 0; i < 3; i++) {
        await seed.store.deliver([{ root }], message({ subject: `m${i}` }));
      }
      const srv = await startTestServer({ dirBase: seed.dirBase });
      const home = await Deno.makeTempDir({ prefix: "extremail-mutt-" });
      const port = srv.ports.imap;
      await Deno.writeTextFile(
        join(home, "muttrc"),
        [
          `set imap_user="${USER}"`,
          `set imap_pass="${PASS}"`,
          `set folder="imap://127.0.0.1:${port}/"`,
          `set spoolfile="+INBOX"`,
          "set ssl_starttls=no",
          "set ssl_force_tls=no",
          "set mail_check=0",
          "set timeout=1",
          "set quit=yes",
          "set move=no",
          "set sort=date-received",
          "set pager_stop=yes",
          "",
        ].join("\n"),
      );
      const keys = "<display-message><exit><next-undeleted><flag-message><sync-mailbox><quit>";
      const cmd = `mutt -n -F ${home}/muttrc -f imap://127.0.0.1:${port}/INBOX -e 'push "${keys}"'`;
      try {
        await run("script", ["-qec", cmd, "/dev/null"], {
          HOME: home,
          TERM: "xterm",
          COLUMNS: "100",
          LINES: "40",
          PATH: Deno.env.get("PATH")!,
        });
        const c = await ImapClient.connect(port);
        await c.login(USER, PASS);
        await c.cmd("SELECT INBOX");
        const r = await c.cmd("FETCH 1:* (FLAGS)");
        ok(r.lines[0].includes("\\Seen"), r.lines.join("\n"));
        ok(r.lines[1].includes("\\Flagged"), r.lines.join("\n"));
        ok(!r.lines[2].includes("\\Seen") && !r.lines[2].includes("\\Flagged"));
        c.close();
      } finally {
        await srv.stop();
        await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
        await Deno.remove(home, { recursive: true }).catch(() => {});
      }
    },
  },
);
