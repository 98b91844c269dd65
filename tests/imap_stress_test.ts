/**
 * Ten sessions on one mailbox doing APPEND, STORE, EXPUNGE and FETCH at the same time
 * (issue 16: one client once read a response it could not parse, "Missing ')'"). Every
 * response is checked byte by byte: each literal `{n}` is followed by exactly n octets,
 * parentheses balance over the whole response, quoted strings close, and no response
 * begins inside another. The interleaving found: a FETCH whose later item failed (the
 * message expunged meanwhile) after a literal had been written left the response without
 * its ")", and the next message's "* n FETCH" followed.
 */
import { equal, ok } from "node:assert/strict";
import { message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";
const enc = new TextEncoder();

/** A client that reads responses as bytes and refuses any it could not parse. */
class StrictClient {
  #buf = new Uint8Array(0);
  #tag = 0;
  private constructor(readonly conn: Deno.Conn, readonly name: string) {}

  static async open(port: number, name: string): Promise<StrictClient> {
    const c = new StrictClient(await Deno.connect({ hostname: "127.0.0.1", port }), name);
    await c.#response();
    return c;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(1 << 16);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error(`${this.name}: connection closed`);
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  async #line(): Promise<Uint8Array> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const line = this.#buf.subarray(0, i + 1);
        this.#buf = this.#buf.slice(i + 1);
        if (line.length < 2 || line[line.length - 2] !== 13) {
          throw new Error(`${this.name}: line without CRLF`);
        }
        return line.subarray(0, line.length - 2);
      }
      await this.#fill();
    }
  }

  async #bytes(n: number): Promise<void> {
    while (this.#buf.length < n) await this.#fill();
    this.#buf = this.#buf.slice(n);
  }

  /** One whole response (continuation lines after literals included), checked. */
  async #response(): Promise<string> {
    let depth = 0;
    let text = "";
    for (;;) {
      const line = await this.#line();
      const s = new TextDecoder().decode(line);
      if (text !== "" && /^\* \d+ (FETCH|EXPUNGE|EXISTS)/.test(s)) {
        throw new Error(`${this.name}: a response began inside another: ${text.slice(0, 200)}`);
      }
      let inQuote = false;
      for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (inQuote) {
          if (c === "\\") i++;
          else if (c === '"') inQuote = false;
        } else if (c === '"') inQuote = true;
        else if (c === "(") depth++;
        else if (c === ")") depth--;
      }
      if (inQuote) throw new Error(`${this.name}: unterminated quoted string: ${s}`);
      text += s;
      const lit = /~?\{(\d+)\}$/.exec(s);
      if (!lit) break;
      await this.#bytes(Number(lit[1]));
    }
    // Response codes ("[...]") and text after the status carry no parentheses we count
    // only for untagged data responses.
    if (depth !== 0 && /^\* \d+ FETCH/.test(text)) {
      throw new Error(`${this.name}: Missing ')' in ${text.slice(0, 300)}`);
    }
    return text;
  }

  async cmd(command: string, literal?: Uint8Array): Promise<string> {
    const tag = `s${++this.#tag}`;
    if (literal) {
      await this.conn.write(enc.encode(`${tag} ${command} {${literal.length}+}\r\n`));
      await this.conn.write(literal);
      await this.conn.write(enc.encode("\r\n"));
    } else await this.conn.write(enc.encode(`${tag} ${command}\r\n`));
    for (;;) {
      const r = await this.#response();
      if (r.startsWith(tag + " ")) return r;
    }
  }

  close(): void {
    this.conn.close();
  }
}

Deno.test("imap: ten sessions appending, flagging, expunging and fetching stay parsable", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 0; i < 40; i++) {
    await seed.store.deliver(
      [{ root }],
      message({ subject: `seed ${i}`, body: "x".repeat(i * 50) }),
    );
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const clients: StrictClient[] = [];
  try {
    for (let k = 0; k < 10; k++) {
      const c = await StrictClient.open(srv.ports.imap, `client${k}`);
      clients.push(c);
      ok((await c.cmd(`LOGIN ${USER} ${PASS}`)).includes("OK"));
      ok((await c.cmd("SELECT INBOX")).includes("OK"));
    }
    const deadline = Date.now() + 8000;
    let rounds = 0;
    await Promise.all(clients.map(async (c, k) => {
      for (let i = 0; Date.now() < deadline && i < 200; i++) {
        rounds++;
        switch ((i + k) % 5) {
          case 0:
            await c.cmd(
              "APPEND INBOX (\\Seen)",
              message({ subject: `c${k} ${i}`, body: "y".repeat(300) }),
            );
            break;
          case 1:
            await c.cmd(`STORE 1:* +FLAGS ($k${k % 3})`);
            break;
          case 2:
            await c.cmd("UID STORE 1:* +FLAGS (\\Deleted)");
            await c.cmd(k % 2 ? "EXPUNGE" : "NOOP");
            break;
          case 3:
            // A literal first, then items that need the file again or its date.
            await c.cmd(
              "FETCH 1:* (BODY.PEEK[HEADER] INTERNALDATE BODY.PEEK[TEXT] ENVELOPE FLAGS)",
            );
            break;
          default:
            await c.cmd("UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[1])");
            if (i % 10 === 4) {
              // New messages keep the mailbox from running dry.
              for (let j = 0; j < 5; j++) {
                await c.cmd("APPEND INBOX", message({ subject: `more ${j}` }));
              }
            }
        }
      }
    }));
    ok(rounds > 100, `only ${rounds} rounds ran`);
    for (const c of clients) equal((await c.cmd("LOGOUT")).split(" ")[1], "OK");
  } finally {
    for (const c of clients) c.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
