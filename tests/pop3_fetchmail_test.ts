/**
 * fetchmail (Debian) as a real POP3 client: it retrieves every message into an mbox
 * through an MDA and deletes them, in cleartext and over STLS with certificate checks.
 * Skipped when fetchmail is not installed (`apt-get install -y fetchmail`).
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { makeMessage, type SeedUser, seedUsers } from "../bench/pop3.ts";
import { python, startTestServer, TEST_CERT } from "./helpers/server.ts";
import { have, testUnless } from "./helpers/skip.ts";

const users: SeedUser[] = ["ann", "bob"].map((name) => ({
  name,
  domain: "ex.test",
  password: `${name}'s password`,
  messages: Array.from({ length: 12 }, (_, i) => makeMessage(i + 1, 2000 + 700 * i)),
}));

/** Writes a fetchmail rcfile (mode 0600, as fetchmail insists) and runs one poll. */
async function fetchmail(dir: string, port: number, user: SeedUser, tls: boolean) {
  const mbox = join(dir, `${user.name}.mbox`);
  const rc = join(dir, `${user.name}.rc`);
  // fetchmail's MDA gets one message on stdin; the script adds an mbox "From " line.
  const mda = join(dir, "mda.sh");
  await Deno.writeTextFile(
    mda,
    'echo "From fetchmail  Thu Jan  1 00:00:00 1970" >> "$1"\ncat >> "$1"\necho >> "$1"\n',
  );
  const security = tls
    ? `sslproto "tls1.2+" sslcertck sslcertfile "${TEST_CERT}" sslcommonname "localhost"`
    : `sslproto ""`;
  await Deno.writeTextFile(
    rc,
    [
      "set no bouncemail",
      "set no syslog",
      `poll 127.0.0.1 service ${port} protocol POP3 uidl`,
      `  user "${user.name}@${user.domain}" there with password "${user.password}" is "root" here`,
      `  options no keep fetchall ${security}`,
      `  mda "/bin/sh ${mda} ${mbox}"`,
    ].join("\n") + "\n",
    { mode: 0o600 },
  );
  const out = await new Deno.Command("fetchmail", {
    args: [
      "-v",
      "-f",
      rc,
      "--idfile",
      join(dir, `${user.name}.ids`),
      "--pidfile",
      join(dir, "pid"),
    ],
    env: { HOME: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, log, mbox };
}

testUnless(have("fetchmail") ? null : "fetchmail is not installed (apt-get install -y fetchmail)", {
  name: "fetchmail retrieves everything into an mbox (plain and STLS) and empties the maildrop",
  async fn() {
    const dirBase = await Deno.makeTempDir({ prefix: "extremail-pop3fm-" });
    await seedUsers(join(dirBase, "data"), users);
    const srv = await startTestServer({ dirBase, tls: true });
    try {
      for (const [user, tls] of [[users[0], false], [users[1], true]] as const) {
        const first = await fetchmail(dirBase, srv.ports.pop3, user, tls);
        equal(first.code, 0, first.log);
        match(first.log, /12 messages/);
        if (tls) match(first.log, /POP3> STLS/);
        // Every message arrived whole: the mbox holds the bytes we stored, in order
        // (an MDA gets LF line endings, and mbox tools need no "From " quoting here).
        const mbox = await Deno.readTextFile(first.mbox);
        const got = mbox.split(/^From fetchmail {2}.*\n/m).slice(1);
        equal(got.length, 12);
        for (let i = 0; i < 12; i++) {
          const stored = new TextDecoder().decode(user.messages[i]).replaceAll("\r\n", "\n");
          ok(got[i].endsWith(stored + "\n"), `message ${i + 1} of ${user.name} is intact`);
        }
        // A second poll finds nothing (fetchmail exits 1: no mail).
        const second = await fetchmail(dirBase, srv.ports.pop3, user, tls);
        equal(second.code, 1, second.log);
        match(second.log, /No mail/);
      }
      const stat = await python(
        `
import poplib, sys
for u, pw in (("ann@ex.test", "ann's password"), ("bob@ex.test", "bob's password")):
    p = poplib.POP3("127.0.0.1", int(sys.argv[1])); p.user(u); p.pass_(pw)
    print(p.stat()); p.quit()
`,
        [String(srv.ports.pop3)],
      );
      equal(stat.trim(), "(0, 0)\n(0, 0)");
    } finally {
      await srv.stop();
      await Deno.remove(dirBase, { recursive: true });
    }
  },
});
