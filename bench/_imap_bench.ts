/**
 * What the IMAP search benchmarks share (imap_search.ts, fts.ts, _imap_big.ts): the
 * --messages/--rounds arguments, a minimal IMAP client that times a command and counts
 * its results, and the seeding of a Maildir straight into cur/ or new/, as another MDA
 * would write it (no fsync each, so 100,000 messages take seconds).
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileNameFor, newBaseName } from "../src/store/maildir_names.ts";
import { TextLines } from "./_lines.ts";

/** The benchmark user seedUsers creates. */
export const USER = "bench@bench.example", PASS = "bench-pass";

/** `--messages=N --rounds=R`, with this benchmark's default number of messages. */
export function messagesAndRounds(defaultMessages: number): { n: number; rounds: number } {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      messages: { type: "string", default: String(defaultMessages) },
      rounds: { type: "string", default: "5" },
    },
  });
  return { n: Number(values.messages), rounds: Number(values.rounds) };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A minimal client: the untagged lines of one command (replies with literals not expected). */
export class ImapLineClient {
  readonly #lines = new TextLines();
  #n = 0;
  private constructor(readonly conn: Deno.Conn) {}

  /** Connects and reads the greeting. */
  static async open(port: number): Promise<ImapLineClient> {
    const c = new ImapLineClient(await Deno.connect({ hostname: "127.0.0.1", port }));
    await c.#line();
    return c;
  }

  async #line(): Promise<string> {
    for (;;) {
      const line = this.#lines.next();
      if (line !== null) return line;
      const chunk = new Uint8Array(1 << 16);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Error("connection closed");
      this.#lines.append(dec.decode(chunk.subarray(0, n)));
    }
  }

  /** Runs a command that must answer OK; its untagged lines. */
  async cmd(text: string): Promise<string[]> {
    const tag = `b${++this.#n}`;
    await this.conn.write(enc.encode(`${tag} ${text}\r\n`));
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line();
      if (line.startsWith(tag + " ")) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`${text}: ${line}`);
        return lines;
      }
      lines.push(line);
    }
  }

  /** Runs a command; [ms, how many results it gave (resultCount)]. */
  async timed(text: string): Promise<[number, number]> {
    const t0 = performance.now();
    const lines = await this.cmd(text);
    return [performance.now() - t0, resultCount(lines)];
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Runs the client `rounds` times against a canned server in this process that answers
 * every command with a SEARCH of `results` numbers (SEARCH UNSEEN's 530 KB for 90,000):
 * the client's socket reads, decoding, line framing (_lines.ts) and result count are
 * compiled and warm before the first server is timed. Without it the server measured
 * first (ours, in bench imap) met a cold client: 20-27 ms of client time in its first
 * large reply against 6-12 warm (docs/performance.md, stop 35), which Dovecot, measured
 * second, never paid.
 */
export async function warmLineClient(results = 90_000, rounds = 8): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const numbers = Array.from({ length: results }, (_, i) => i + 1).join(" ");
  const reply = enc.encode(`* SEARCH ${numbers}\r\n`);
  const serve = (async () => {
    const conn = await listener.accept();
    try {
      await conn.write(enc.encode("* OK canned\r\n"));
      const lines = new TextLines(), buf = new Uint8Array(1024);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        lines.append(dec.decode(buf.subarray(0, n)));
        for (let line = lines.next(); line !== null; line = lines.next()) {
          await conn.write(reply);
          await conn.write(enc.encode(`${line.split(" ")[0]} OK done\r\n`));
        }
      }
    } finally {
      conn.close();
    }
  })();
  try {
    const c = await ImapLineClient.open((listener.addr as Deno.NetAddr).port);
    for (let r = 0; r < rounds; r++) await c.timed("SEARCH UNSEEN");
    c.close();
    await serve.catch(() => {}); // ends at the close
  } finally {
    listener.close();
  }
}

/** Results of a SORT, THREAD (top-level threads), SEARCH or ESEARCH COUNT reply; else 0. */
export function resultCount(lines: string[]): number {
  const sorted = lines.find((l) => l.startsWith("* SORT"));
  if (sorted !== undefined) return sorted.split(" ").length - 2;
  const threads = lines.find((l) => l.startsWith("* THREAD"));
  if (threads !== undefined) {
    // Threads: the parentheses opened at depth 0.
    let depth = 0, n = 0;
    for (const ch of threads) {
      if (ch === "(" && depth++ === 0) n++;
      else if (ch === ")") depth--;
    }
    return n;
  }
  const res = lines.find((l) => l.startsWith("* SEARCH"));
  if (res !== undefined) return res.split(" ").length - 2;
  const count = /COUNT (\d+)/.exec(lines.find((l) => l.startsWith("* ESEARCH")) ?? "");
  return count ? Number(count[1]) : 0;
}

/**
 * Writes messages 0..count-1 into a Maildir folder (256 at a time) through tmp/, as another
 * MDA would: into cur/ with the flag letters `flags(i)` gives, or into new/ where it gives
 * null; with `date`, that modification time (the internal date). Returns the octets written.
 */
export async function seedMaildir(
  folder: string,
  count: number,
  message: (i: number) => Uint8Array,
  flags: (i: number) => string | null,
  date?: (i: number) => Date,
): Promise<number> {
  let octets = 0;
  for (let i = 0; i < count; i += 256) {
    const batch = Array.from({ length: Math.min(256, count - i) }, (_, j) => i + j);
    await Promise.all(batch.map(async (n) => {
      const data = message(n);
      octets += data.length;
      const base = newBaseName(data.length);
      const tmp = join(folder, "tmp", base);
      await Deno.writeFile(tmp, data);
      const when = date?.(n);
      if (when) await Deno.utime(tmp, when, when);
      const letters = flags(n);
      const to = letters === null ? join("new", base) : join("cur", fileNameFor(base, letters));
      await Deno.rename(tmp, join(folder, to));
    }));
  }
  return octets;
}
