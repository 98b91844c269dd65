/**
 * IMAP test set-up: a DirBase with users and seeded mail, made before the daemon
 * starts (startTestServer({dirBase})), and a raw IMAP client over LineClient.
 */
import { join } from "node:path";
import { Directory } from "../../src/directory/directory.ts";
import { MailStore } from "../../src/store/mailstore.ts";
import { LineClient } from "./client.ts";

export interface Seed {
  dirBase: string;
  store: MailStore;
  /** Maildir root of each user by address. */
  roots: Record<string, string>;
}

/** Creates users (address -> password) and returns the store to seed messages with. */
export async function seedUsers(
  users: Record<string, string>,
  opts: { quota?: number; dirBase?: string } = {},
): Promise<Seed> {
  const dirBase = opts.dirBase ?? await Deno.makeTempDir({ prefix: "extremail-imap-" });
  const data = join(dirBase, "data");
  const dir = Directory.open(data);
  const store = new MailStore(data, 2);
  const roots: Record<string, string> = {};
  try {
    for (const [address, password] of Object.entries(users)) {
      const [name, domain] = address.split("@");
      if (!dir.isLocalDomain(domain)) await dir.addDomain(domain);
      const user = await dir.addUser({ name, domain, password, quota: opts.quota });
      roots[address] = store.userRoot(user);
      await store.ensureMailbox(roots[address]);
    }
  } finally {
    dir.close();
  }
  return { dirBase, store, roots };
}

/** A message with CRLF line endings. */
export function message(opts: {
  from?: string;
  to?: string;
  subject?: string;
  date?: string;
  body?: string;
  headers?: string[];
}): Uint8Array {
  const lines = [
    `From: ${opts.from ?? "Alice <alice@example.org>"}`,
    `To: ${opts.to ?? "bob@example.com"}`,
    `Subject: ${opts.subject ?? "Hello"}`,
    `Date: ${opts.date ?? "Mon, 7 Feb 1994 21:52:25 -0800"}`,
    `Message-ID: <${crypto.randomUUID()}@example.org>`,
    ...(opts.headers ?? []),
    "",
    opts.body ?? "Hello, world.",
    "",
  ];
  return new TextEncoder().encode(lines.join("\r\n"));
}

/** A raw IMAP client: tagged commands, collecting untagged lines (and literals). */
export class ImapClient {
  #n = 0;
  private constructor(readonly line: LineClient) {}

  static async connect(port: number, opts: { tls?: boolean } = {}): Promise<ImapClient> {
    const c = new ImapClient(await LineClient.connect(port, opts));
    const greeting = await c.line.readLine();
    if (!greeting?.startsWith("* OK")) throw new Error(`bad greeting: ${greeting}`);
    return c;
  }

  nextTag(): string {
    return `t${++this.#n}`;
  }

  /** Sends a command; returns all lines up to and including the tagged reply. */
  async cmd(text: string): Promise<{ lines: string[]; status: string; tagged: string }> {
    const tag = this.nextTag();
    await this.line.send(`${tag} ${text}`);
    return await this.result(tag);
  }

  /** Reads responses until the tagged reply of `tag`; literals are inlined. */
  async result(tag: string): Promise<{ lines: string[]; status: string; tagged: string }> {
    const lines: string[] = [];
    for (;;) {
      let line = await this.line.readLine();
      if (line === null) throw new Error(`EOF before ${tag}; got:\n${lines.join("\n")}`);
      let m;
      while ((m = /\{(\d+)\}$/.exec(line))) {
        const bytes = await this.line.readBytes(Number(m[1]));
        const rest = await this.line.readLine();
        line = line + "\n" + new TextDecoder().decode(bytes) + (rest ?? "");
      }
      if (line.startsWith(tag + " ")) {
        return { lines, status: line.split(" ")[1], tagged: line };
      }
      lines.push(line);
    }
  }

  async login(user: string, pass: string): Promise<void> {
    const r = await this.cmd(`LOGIN "${user}" "${pass}"`);
    if (r.status !== "OK") throw new Error(`login failed: ${r.tagged}`);
  }

  close(): void {
    this.line.close();
  }
}
