/**
 * Idle IMAP sessions and process memory for bench:peers: open N connections that each
 * LOGIN, SELECT INBOX and IDLE, hold them, and read the server's memory from /proc.
 */
import { TextLines } from "../_lines.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

/** One IMAP connection driven line by line (no literals expected in these replies). */
class IdleClient {
  readonly #lines = new TextLines();
  #tag = 0;
  constructor(readonly conn: Deno.TcpConn) {}

  async #line(deadline: number): Promise<string> {
    const chunk = new Uint8Array(16384);
    for (;;) {
      const line = this.#lines.next();
      if (line !== null) return line;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(chunk),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("timed out")), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (n === null) throw new Error("connection closed by server");
      this.#lines.append(dec.decode(chunk.subarray(0, n)));
    }
  }

  async greeting(deadline: number): Promise<void> {
    const line = await this.#line(deadline);
    if (!line.startsWith("* OK")) throw new Error(`greeting: ${line.slice(0, 80)}`);
  }

  /** Sends a tagged command and reads to its completion; throws unless OK. */
  async command(cmd: string, deadline: number): Promise<void> {
    const tag = `i${++this.#tag}`;
    await this.conn.write(enc.encode(`${tag} ${cmd}\r\n`));
    for (;;) {
      const line = await this.#line(deadline);
      if (line.startsWith(tag + " ")) {
        if (!/^\S+ OK/i.test(line)) throw new Error(`${cmd.split(" ")[0]}: ${line.slice(0, 80)}`);
        return;
      }
    }
  }

  /** IDLE: returns once the server sent its continuation request. */
  async idle(deadline: number): Promise<void> {
    const tag = `i${++this.#tag}`;
    await this.conn.write(enc.encode(`${tag} IDLE\r\n`));
    for (;;) {
      const line = await this.#line(deadline);
      if (line.startsWith("+")) return;
      if (line.startsWith(tag + " ")) throw new Error(`IDLE: ${line.slice(0, 80)}`);
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

export interface IdleOptions {
  port: number;
  count: number;
  login: (i: number) => string;
  password: string;
  /** Connections being set up at once. */
  parallel?: number;
  timeoutMs?: number;
}

export interface IdleSessions {
  opened: number;
  errors: string[];
  close(): void;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** Opens `count` sessions in IDLE; stops opening new ones after the first few errors. */
export async function openIdleSessions(opts: IdleOptions): Promise<IdleSessions> {
  const clients: IdleClient[] = [];
  const errors: string[] = [];
  const parallel = opts.parallel ?? 32;
  let next = 0;
  const worker = async () => {
    while (next < opts.count && errors.length < 5) {
      const i = next++;
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      let client: IdleClient | undefined;
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: opts.port });
        client = new IdleClient(conn);
        await client.greeting(deadline);
        await client.command(`LOGIN ${quote(opts.login(i))} ${quote(opts.password)}`, deadline);
        await client.command("SELECT INBOX", deadline);
        await client.idle(deadline);
        clients.push(client);
      } catch (e) {
        client?.close();
        errors.push(`session ${i + 1}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, opts.count) }, worker));
  return {
    opened: clients.length,
    errors,
    close() {
      for (const c of clients) c.close();
    },
  };
}

/**
 * LOGIN + LOGOUT once per distinct login, so the memory measured afterwards is that of
 * the sessions and not of a first login's password hashing (scrypt needs 16 MiB, which
 * the allocator keeps). Returns the errors.
 */
export async function warmLogins(
  port: number,
  logins: string[],
  password: string,
  parallel = 8,
): Promise<string[]> {
  const errors: string[] = [];
  const todo = [...logins];
  const worker = async () => {
    for (let login = todo.shift(); login !== undefined; login = todo.shift()) {
      const deadline = Date.now() + 60_000;
      let client: IdleClient | undefined;
      try {
        client = new IdleClient(await Deno.connect({ hostname: "127.0.0.1", port }));
        await client.greeting(deadline);
        await client.command(`LOGIN ${quote(login)} ${quote(password)}`, deadline);
        await client.command("LOGOUT", deadline);
      } catch (e) {
        errors.push(`${login}: ${(e as Error).message}`);
      } finally {
        client?.close();
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return errors;
}

/** Processes: pid -> parent pid, from /proc/<pid>/stat. */
async function parentMap(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(e.name), Number(rest[1]));
    } catch { /* exited meanwhile */ }
  }
  return parents;
}

/** `pid` and all its descendants. */
export async function processTree(pid: number): Promise<number[]> {
  const parents = await parentMap();
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, pp] of parents) {
      if (!tree.has(p) && tree.has(pp)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  return [...tree];
}

async function kib(path: string, field: string): Promise<number> {
  try {
    const text = await Deno.readTextFile(path);
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS of one process, KiB (0 if it is gone). */
export function vmRssKiB(pid: number): Promise<number> {
  return kib(`/proc/${pid}/status`, "VmRSS");
}

/**
 * Memory of a process tree, KiB: the sum of VmRSS, or of Pss (proportional set size:
 * pages shared by several processes, such as libraries, counted once in total), which is
 * the fair measure for a multi-process server such as Dovecot.
 */
export async function treeKiB(pid: number, kind: "rss" | "pss"): Promise<number> {
  let total = 0;
  for (const p of await processTree(pid)) {
    total += kind === "rss" ? await vmRssKiB(p) : await kib(`/proc/${p}/smaps_rollup`, "Pss");
  }
  return total;
}
