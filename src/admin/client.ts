/**
 * `extremail admin` (SPEC §2, §4): runs one admin command, or an interactive prompt
 * when no command words are given. Exit status: 0 on +OK, 1 on -ERR, 2 when it cannot
 * connect or log in (64 for a bad command line, as the rest of the CLI).
 */
import { parseArgs } from "node:util";
import { AdminClientConnection, type ClientReply } from "./client_conn.ts";
import { quoteValue } from "./parse.ts";

export const ADMIN_HELP =
  `Usage: extremail admin [--host H] [--port P] [--password-file F] [COMMAND WORDS...]

Talks to the eXtremail administration port (default 127.0.0.1:4501).

  --host H             server address (default 127.0.0.1)
  --port P             admin port (default 4501)
  --password-file F    read the admin password from the first line of F
  -h, --help           this text

The password comes from --password-file, else the environment variable
EXTREMAIL_ADMIN_PASSWORD, else it is asked for (without echo) on the terminal.

With COMMAND WORDS the client logs in, runs that one command and exits:
  extremail admin USER SHOW ALL DOMAIN=example.com
  extremail admin USER MOD NAME=bob DOMAIN=example.com AUTOREPLYSUBJECT="On leave"
Data lines go to stdout (without the leading space the protocol puts before + and -),
the +OK/-ERR status line goes to stderr. Values with spaces or quotes are quoted for
the server.

Without COMMAND WORDS it reads commands from the terminal (or from stdin when it is
not a terminal) and prints every reply line to stdout, until QUIT or end of input.
Type HELP there for the commands.

Exit status: 0 when the server answered +OK (interactive: every command), 1 when it
answered -ERR (interactive: any command), 2 when it cannot connect or log in or the
connection is lost, 64 for a bad command line.`;

const EXIT_OK = 0, EXIT_ERR = 1, EXIT_NO_SESSION = 2, EXIT_USAGE = 64;

function complain(message: string, code: number): number {
  console.error(`extremail admin: ${message}`);
  return code;
}

/**
 * One command line for the server from the shell's words: KEY=value words get their
 * value quoted when it needs it (the shell already removed the user's quotes).
 */
export function commandLine(words: string[]): string {
  return words.map((word) => {
    const m = /^([A-Za-z][A-Za-z0-9_-]*)=(.*)$/s.exec(word);
    if (!m) return word;
    const value = m[2];
    // Already quoted for the protocol (e.g. 'NAME="a b"'): leave it alone.
    if (/^"(?:[^"\\]|\\["\\])*"$/.test(value)) return word;
    return `${m[1]}=${value === "" ? "" : quoteValue(value)}`;
  }).join(" ");
}

async function passwordFromFile(path: string): Promise<string> {
  const text = await Deno.readTextFile(path);
  return text.split(/\r?\n/)[0];
}

/** Reads a password from the terminal without echo; null when there is no terminal. */
export async function promptPassword(prompt: string): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return null;
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(prompt));
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    for (;;) {
      const n = await Deno.stdin.read(one);
      if (n === null) return null;
      const b = one[0];
      if (b === 13 || b === 10) break;
      if (b === 3 || (b === 4 && bytes.length === 0)) return null; // Ctrl-C, Ctrl-D
      if (b === 127 || b === 8) {
        // Backspace removes one character (its UTF-8 continuation bytes too).
        while (bytes.length && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
        bytes.pop();
        continue;
      }
      bytes.push(b);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

async function findPassword(file: string | undefined): Promise<string | null> {
  if (file !== undefined) return await passwordFromFile(file);
  const env = Deno.env.get("EXTREMAIL_ADMIN_PASSWORD");
  if (env) return env;
  return await promptPassword("Admin password: ");
}

async function* stdinLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of Deno.stdin.readable) {
    partial += decoder.decode(chunk, { stream: true });
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) yield p.replace(/\r$/, "");
  }
  if (partial) yield partial;
}

function printReply(reply: ClientReply, statusTo: "stdout" | "stderr"): void {
  for (const line of reply.data) console.log(line);
  if (statusTo === "stdout") console.log(reply.status);
  else console.error(reply.status);
}

async function interactive(conn: AdminClientConnection, where: string): Promise<number> {
  const tty = Deno.stdin.isTerminal();
  const encoder = new TextEncoder();
  let failed = false;
  let lost = false;
  conn.onUnsolicited = (line) => {
    console.log(line);
    lost = true;
  };
  if (tty) console.log(`Logged in to eXtremail admin at ${where}. HELP lists the commands.`);
  const lines = stdinLines();
  for (;;) {
    if (tty) await Deno.stdout.write(encoder.encode("admin> "));
    const next = await lines.next();
    if (lost || conn.closed) return complain("the server closed the connection", EXIT_NO_SESSION);
    if (next.done) {
      await conn.command("QUIT");
      return failed ? EXIT_ERR : EXIT_OK;
    }
    const line = next.value;
    if (line.trim() === "") continue;
    const reply = await conn.command(line);
    if (!reply) return complain("the server closed the connection", EXIT_NO_SESSION);
    printReply(reply, "stdout");
    if (!reply.ok) failed = true;
    const verb = line.trim().split(/\s+/).slice(0, 2).join(" ").toUpperCase();
    if (reply.ok && (verb === "QUIT" || verb.startsWith("QUIT ") || verb === "SMTPD STOP")) {
      return failed ? EXIT_ERR : EXIT_OK;
    }
  }
}

export async function runAdminClient(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "4501" },
        "password-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return complain(`${(e as Error).message}; see extremail admin --help`, EXIT_USAGE);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(ADMIN_HELP);
    return EXIT_OK;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) {
    return complain(`--port ${values.port}: expected a port number 1-65535`, EXIT_USAGE);
  }
  const host = values.host;
  const where = `${host}:${port}`;

  let password: string | null;
  try {
    password = await findPassword(values["password-file"]);
  } catch (e) {
    return complain(`cannot read the password file: ${(e as Error).message}`, EXIT_NO_SESSION);
  }
  if (password === null) {
    return complain(
      "no admin password: use --password-file or EXTREMAIL_ADMIN_PASSWORD, or run on a terminal",
      EXIT_NO_SESSION,
    );
  }
  if (/[\r\n]/.test(password)) return complain("the password contains a line break", EXIT_USAGE);

  let conn: AdminClientConnection;
  try {
    conn = await AdminClientConnection.connect(host, port);
  } catch (e) {
    return complain(`cannot connect to ${where}: ${(e as Error).message}`, EXIT_NO_SESSION);
  }
  try {
    const greeting = await conn.readLine();
    if (!greeting?.startsWith("+OK")) {
      return complain(`${where} refused the session: ${greeting ?? "connection closed"}`, 2);
    }
    const login = await conn.command(`LOGIN ${password}`);
    if (!login?.ok) {
      return complain(`login refused: ${login?.status ?? "connection closed"}`, EXIT_NO_SESSION);
    }
    if (positionals.length === 0) return await interactive(conn, where);
    const reply = await conn.command(commandLine(positionals));
    if (!reply) return complain("the server closed the connection", EXIT_NO_SESSION);
    printReply(reply, "stderr");
    if (!conn.closed) await conn.command("QUIT");
    return reply.ok ? EXIT_OK : EXIT_ERR;
  } finally {
    conn.close();
  }
}
