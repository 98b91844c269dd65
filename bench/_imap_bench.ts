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
