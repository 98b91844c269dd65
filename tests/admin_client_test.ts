/**
 * `extremail admin` against the real daemon (SPEC §2): password sources, data lines on
 * stdout and the status line on stderr, quoting of shell words, interactive mode on
 * stdin, and the exit status: 0 on +OK, 1 on -ERR, 2 when it cannot connect or log in.
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { ADMIN_PASSWORD, freePort, REPO, startTestServer } from "./helpers/server.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(
  args: string[],
  opts: { password?: string; stdin?: string } = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(REPO, "main.ts"), "admin", ...args],
    env: { EXTREMAIL_ADMIN_PASSWORD: opts.password ?? ADMIN_PASSWORD, NO_COLOR: "1" },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("extremail admin: one command, interactive mode, exit status", async (t) => {
  const srv = await startTestServer();
  const port = ["--port", String(srv.ports.admin)];
  try {
    await t.step(
      "STATUS with EXTREMAIL_ADMIN_PASSWORD: data on stdout, status on stderr",
      async () => {
        const r = await cli([...port, "STATUS"]);
        equal(r.code, 0, r.stderr);
        match(r.stdout, /^Version=/m);
        match(r.stdout, /^smtp=\d+$/m);
        ok(!r.stdout.includes("+OK"));
        match(r.stderr, /^\+OK status$/m);
      },
    );

    await t.step("--password-file, -ERR exits 1, shell words are quoted", async () => {
      const file = join(srv.dirBase, "admin.pw");
      await Deno.writeTextFile(file, ADMIN_PASSWORD + "\n");
      const fileOpt = [...port, "--password-file", file];
      const add = await cli([...fileOpt, "DOMAIN", "ADD", "NAME=cli.example"], { password: "" });
      equal(add.code, 0, add.stderr);
      const again = await cli([...fileOpt, "domain", "add", "name=cli.example"], { password: "" });
      equal(again.code, 1);
      match(again.stderr, /^-ERR domain cli\.example already exists/m);
      const user = await cli([...port, "USER", "ADD", "NAME=bob", "DOMAIN=cli.example"]);
      equal(user.code, 0, user.stderr);
      const mod = await cli([
        ...port,
        "USER",
        "MOD",
        "NAME=bob",
        "DOMAIN=cli.example",
        'AUTOREPLYSUBJECT=On leave "now" \\o/',
      ]);
      equal(mod.code, 0, mod.stderr);
      const show = await cli([...port, "USER", "SHOW", "NAME=bob", "DOMAIN=cli.example"]);
      equal(show.code, 0);
      match(show.stdout, /^AutoReplySubject=On leave "now" \\o\/$/m);
      match(show.stdout, /^Dir=\//m);
    });

    await t.step(
      "data lines that begin with - are printed without the protocol's space",
      async () => {
        const add = await cli([
          ...port,
          "ALIAS",
          "ADD",
          "NAME=-dash",
          "DOMAIN=cli.example",
          "FORWARD=bob@cli.example",
        ]);
        equal(add.code, 0, add.stderr);
        const show = await cli([...port, "ALIAS", "SHOW", "ALL"]);
        equal(show.stdout, "-dash@cli.example Forward=bob@cli.example\n");
      },
    );

    await t.step("cannot connect or log in: exit 2", async () => {
      const [wrong, closed, none, missingFile] = await Promise.all([
        cli([...port, "STATUS"], { password: "not-it" }),
        cli(["--port", String(freePort()), "STATUS"]),
        cli([...port, "STATUS"], { password: "" }),
        cli([...port, "--password-file", "/nonexistent/pw", "STATUS"]),
      ]);
      equal(wrong.code, 2);
      match(wrong.stderr, /login refused: -ERR wrong password/);
      equal(closed.code, 2);
      match(closed.stderr, /cannot connect to 127\.0\.0\.1:\d+/);
      equal(none.code, 2);
      match(none.stderr, /no admin password/);
      equal(missingFile.code, 2);
      match(missingFile.stderr, /cannot read the password file/);
    });

    await t.step("interactive mode reads commands from stdin until QUIT or EOF", async () => {
      const [good, bad, eof] = await Promise.all([
        cli(port, { stdin: "DOMAIN SHOW ALL\r\n\nstatus\nQUIT\nSTATUS\n" }),
        cli(port, { stdin: "FROB\nDOMAIN SHOW ALL\n" }),
        cli(port, { stdin: "" }),
      ]);
      equal(good.code, 0, good.stderr);
      match(good.stdout, /^cli\.example Users=1 Aliases=1 Lists=0\n\+OK 1 domain$/m);
      match(good.stdout, /^\+OK status$/m);
      ok(good.stdout.trimEnd().endsWith("+OK bye"), good.stdout);
      equal(bad.code, 1);
      match(bad.stdout, /^-ERR unknown command "FROB"/m);
      match(bad.stdout, /^\+OK 1 domain$/m);
      equal(eof.code, 0);
    });

    await t.step("--help and bad options", async () => {
      const [help, bogus, badPort] = await Promise.all([
        cli(["--help"]),
        cli(["--bogus"]),
        cli(["--port", "99999", "STATUS"]),
      ]);
      equal(help.code, 0);
      match(help.stdout, /Data lines go to stdout/);
      equal(bogus.code, 64);
      equal(badPort.code, 64);
    });
  } finally {
    await srv.stop();
  }
});
