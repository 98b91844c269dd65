/**
 * SPEC §12 `extremail migrate-directory`: a single machine's SQLite directory (read while
 * its daemon runs) into an empty PostgreSQL database, every record kept; a non-empty
 * database refused; a failed run leaves nothing and can be run again.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { kv } from "./admin_helper.ts";
import { admin, closeAdminSessions, pop3Login, startNodes, timeUntil } from "./helpers/cluster.ts";
import { postgresMissing, startPostgres } from "./helpers/postgres.ts";
import { REPO, startTestServer, type TestServer } from "./helpers/server.ts";
import { testUnless } from "./helpers/skip.ts";

async function migrate(conf: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      join(REPO, "main.ts"),
      "migrate-directory",
      ...args,
      "--conf",
      conf,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const SETUP = [
  "DOMAIN ADD NAME=a.test",
  "DOMAIN ADD NAME=b.test",
  "USER ADD NAME=joe DOMAIN=a.test PASS=joe-pw-1 QUOTA=10M MAXIN=1M MAXOUT=2M DIR=custom/joe",
  'USER MOD NAME=joe DOMAIN=a.test FORWARD=x@remote.test KEEP=YES COPY=archive@b.test AUTOREPLY=ON AUTOREPLYSUBJECT="Away" AUTOREPLYTEXT="Back on \\"Monday\\"" MAP=joelogin',
  "USER ADD NAME=ann DOMAIN=b.test PASS=ann-pw-1",
  "USER ADD NAME=nopass DOMAIN=b.test",
  "ALIAS ADD NAME=info DOMAIN=a.test FORWARD=joe@a.test,ann@b.test",
  "ALIAS ADD NAME=* DOMAIN=b.test FORWARD=ann@b.test",
  "LIST ADD NAME=team DOMAIN=a.test ACCESS=MEMBERS",
  "LIST MEMBER ADD NAME=team DOMAIN=a.test MAILBOX=joe@a.test",
  "LIST MEMBER ADD NAME=team DOMAIN=a.test MAILBOX=far@remote.test",
  "DENY ADD IPIN=192.0.2.0/24",
  "DENY ADD IPOUT=198.51.100.7",
  "DENY ADD DOMAININ=spam.test",
  "DENY ADD DOMAINOUT=blocked.test",
  "DENY ADD MAILBOXIN=bad@remote.test",
  "DENY ADD MAILBOXOUT=nobody@remote.test",
  "DKIM ADD DOMAIN=a.test SELECTOR=s1 TYPE=ED25519",
  "DKIM ADD DOMAIN=b.test SELECTOR=s2",
];

/** Everything the admin port shows of the directory, without what is per machine. */
async function snapshot(srv: TestServer): Promise<Record<string, string[]>> {
  const data = async (line: string) => {
    const r = await admin(srv, line);
    ok(r.ok, `${line}: ${r.status}`);
    return r.data;
  };
  const out: Record<string, string[]> = {};
  for (const line of ["DOMAIN SHOW ALL", "ALIAS SHOW ALL", "LIST SHOW ALL", "DENY SHOW ALL"]) {
    out[line] = await data(line);
  }
  out["LIST SHOW NAME=team"] = await data("LIST SHOW NAME=team DOMAIN=a.test");
  // Created= and Active= too: the same keys, the same newest.
  out["DKIM SHOW ALL"] = await data("DKIM SHOW ALL");
  for (const u of ["joe@a.test", "ann@b.test", "nopass@b.test"]) {
    const [name, domain] = u.split("@");
    const fields = kv(await data(`USER SHOW NAME=${name} DOMAIN=${domain}`));
    // Dir is under each machine's DirBase and Usage its mail; Node is what migration sets.
    out[u] = Object.entries(fields).filter(([k]) => !["Dir", "Usage", "Node"].includes(k))
      .map(([k, v]) => `${k}=${v}`);
  }
  return out;
}

function sqliteHashes(dirBase: string): Record<string, string> {
  const db = new DatabaseSync(join(dirBase, "directory.sqlite"), { readOnly: true });
  try {
    return Object.fromEntries(
      db.prepare("SELECT name, domain, pass FROM users").all()
        .map((r) => [`${r.name}@${r.domain}`, String(r.pass)]),
    );
  } finally {
    db.close();
  }
}

testUnless(postgresMissing, {
  name: "migrate-directory: SQLite to an empty PostgreSQL, every record kept",
  async fn() {
    const pg = await startPostgres();
    const single = await startTestServer({ tls: true });
    let node: TestServer | undefined;
    try {
      for (const line of SETUP) {
        const r = await admin(single, line);
        ok(r.ok, `${line}: ${r.status}`);
      }
      const before = await snapshot(single);
      const url = await pg.createDatabase("target");
      // A node already runs on the empty database (it made the tables and an SRS secret).
      [node] = await startNodes([url]);
      equal((await admin(node, "DOMAIN SHOW ALL")).status, "+OK 0 domains");

      // A run that fails half-way (a users table that takes none of the rows) leaves nothing.
      await pg.query("target", "ALTER TABLE users ADD COLUMN must_have TEXT NOT NULL");
      const failed = await migrate(single.confPath, "--to", url, "--node", "n1");
      equal(failed.code, 1, failed.stderr);
      match(failed.stderr, /cannot write to postgres:\/\/extremail:\*{8}@.*nothing was copied/);
      ok(!failed.stderr.includes("pg-test-password"), "the password is not shown");
      equal((await pg.query("target", "SELECT count(*)::int AS n FROM domains"))[0].n, 0);
      await pg.query("target", "ALTER TABLE users DROP COLUMN must_have");

      // Run again, with the single machine's daemon still running.
      const run = await migrate(single.confPath, "--to", url, "--node", "n1");
      equal(run.code, 0, run.stderr);
      match(
        run.stdout,
        /^migrated .*directory\.sqlite to postgres:\/\/extremail:\*{8}@127\.0\.0\.1:\d+\/target: 2 domains, 3 users \(node n1\), 2 aliases, 1 list with 2 members, 6 deny entries, 2 DKIM keys, SRS secret replaced\n$/,
      );
      const again = await migrate(single.confPath, "--to", url);
      equal(again.code, 1);
      match(
        again.stderr,
        /already holds a directory \(2 domains rows, 3 users rows, .*empty database/,
      );
      equal((await migrate(single.confPath, "--to", "mysql://x@y/z")).code, 64);

      // The running node read it all when the migration committed.
      await timeUntil(
        "the migrated directory on the running node",
        async () => (await admin(node!, "DOMAIN SHOW ALL")).status === "+OK 2 domains",
      );
      deepStrictEqual(await snapshot(node), before);
      const hashes = sqliteHashes(single.config.DirBase);
      const rows = await pg.query("target", "SELECT name, domain, pass, node FROM users");
      deepStrictEqual(
        Object.fromEntries(rows.map((r) => [`${r.name}@${r.domain}`, r.pass])),
        hashes,
      );
      ok(rows.every((r) => r.node === "n1"));
      const secret = await Deno.readTextFile(join(single.config.DirBase, "srs.secret"));
      equal((await pg.query("target", "SELECT value FROM secrets"))[0].value, secret.trim());
      await single.stop();
      equal(kv((await admin(node, "USER SHOW NAME=joe DOMAIN=a.test")).data).Node, "n1");
      match(await pop3Login(node, "joelogin", "joe-pw-1"), /^\+OK/);
      match(await pop3Login(node, "ann@b.test", "ann-pw-1"), /^\+OK/);
      // The migrated directory takes changes like any other.
      ok((await admin(node, "USER ADD NAME=new DOMAIN=a.test PASS=new-pw-1")).ok);
    } finally {
      closeAdminSessions();
      await single.stop();
      await node?.stop();
      await pg.remove();
    }
  },
});
