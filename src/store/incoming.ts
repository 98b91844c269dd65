/**
 * `<DirBase>/incoming/`: files of messages in transfer (SMTP DATA and BDAT past what is
 * kept in memory, large IMAP APPEND literals). They are on the file system of the
 * Maildirs, so a finished one can be hard-linked into a mailbox instead of copied.
 * Each is removed by its owner when the transfer ends (delivered, refused, aborted);
 * whatever is left at start-up belongs to a process that died and is removed then.
 * They are written on a thread of their own (spool_writer.ts): a file write holds the
 * thread that makes it, and the event loop serves every session.
 */
import { join } from "node:path";
import { ensureDirDurable } from "./fsutil.ts";
import { type OffThreadFile, SpoolWriter } from "./spool_writer.ts";

export class IncomingFiles {
  readonly dir: string;
  #ready: Promise<void> | null = null;
  #serial = 0;
  readonly #writer = new SpoolWriter();

  constructor(dirBase: string) {
    this.dir = join(dirBase, "incoming");
  }

  /**
   * Creates the directory and removes files left by an earlier process (start-up,
   * before any session can make new ones). Returns how many were removed.
   */
  async clean(): Promise<number> {
    await this.#init();
    let removed = 0;
    for await (const e of Deno.readDir(this.dir)) {
      await Deno.remove(join(this.dir, e.name), { recursive: true }).catch(() => {});
      removed++;
    }
    return removed;
  }

  #init(): Promise<void> {
    this.#ready ??= ensureDirDurable(this.dir, 0o700);
    return this.#ready;
  }

  /** A new, empty file for one transfer (`label`: the queue id or session id, for admins). */
  async create(label: string): Promise<{ path: string; file: OffThreadFile }> {
    await this.#init();
    const name = `${label.replace(/[^A-Za-z0-9]/g, "")}.${Deno.pid}.${++this.#serial}`;
    const path = join(this.dir, name);
    const file = await this.#writer.create(path, 0o600);
    return { path, file };
  }

  /** Stops the writing thread (server shutdown, tests); files still open are closed. */
  close(): void {
    this.#writer.close();
  }

  /** Names of the files present (tests, the admin's view of transfers in progress). */
  async list(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(this.dir)) out.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort();
  }
}
