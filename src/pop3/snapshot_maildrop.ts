/**
 * A maildrop as a session on the POP3 second event loop sees it (loop.ts): the snapshot
 * the main thread took at login (UIDs, sizes as listed, each message's file), the marks
 * kept here, the files read here. What changes the store is asked of the main thread:
 * QUIT's UPDATE (commit), the end of the session (\Seen and the lock: markSeen), and
 * where a message's file went when it was renamed since the login (a flag change by an
 * IMAP client).
 */
import { readSmallInto, SYNC_READ_LIMIT } from "../store/read_small.ts";
import { baseOf } from "../store/maildir_names.ts";
import { exists } from "../store/fsutil.ts";
import type { MaildropSnapshot, Pop3Maildrop, Pop3Message } from "./maildrop.ts";
import { MessageMarks } from "./marks.ts";
import { Pop3Error } from "./protocol.ts";

/** The main thread's side of a session on the loop (loop_worker.ts sends the messages). */
export interface MainThreadStore {
  commit(deleted: Uint8Array, retrieved: Uint8Array): Promise<number>;
  end(deleted: Uint8Array, retrieved: Uint8Array): Promise<void>;
  /** Message n's file now, or null when it is gone. */
  file(n: number): Promise<string | null>;
  /** The numbers of messages expunged since the login. */
  gone(): Promise<number[]>;
}

/** A message of the snapshot: its number too, to ask where its file went. */
class SnapshotMessage implements Pop3Message {
  constructor(
    readonly n: number,
    readonly size: number,
    readonly path: string,
    readonly name: string,
  ) {}

  get base(): string {
    return baseOf(this.name.slice(this.name.indexOf("/") + 1));
  }
}

export class SnapshotMaildrop implements Pop3Maildrop {
  readonly count: number;
  readonly #folderPath: string;
  readonly #files: string[];
  /** Sizes as listed, DELE and RETR marks (marks.ts), as the main thread handed them over. */
  readonly #marks: MessageMarks;
  readonly #main: MainThreadStore;
  /** Told the main thread the session ended (markSeen): nothing more to do here. */
  #ended = false;

  constructor(snapshot: MaildropSnapshot, main: MainThreadStore) {
    this.#folderPath = snapshot.folderPath;
    this.#files = snapshot.files.split("\n");
    this.#marks = new MessageMarks(snapshot.sizes, snapshot.deleted, snapshot.retrieved);
    this.count = this.#marks.count;
    this.#main = main;
  }

  get visibleCount(): number {
    return this.#marks.visibleCount;
  }

  get visibleSize(): number {
    return this.#marks.visibleSize;
  }

  sizeOf(n: number): number {
    return this.#marks.sizes[n - 1];
  }

  /** Message n as of the snapshot; undefined when it had gone before the login's end. */
  entry(n: number): SnapshotMessage | undefined {
    const name = this.#files[n - 1];
    if (name === undefined || name === "gone/") return undefined;
    return new SnapshotMessage(n, this.sizeOf(n), this.#folderPath + "/" + name, name);
  }

  isDeleted(n: number): boolean {
    return this.#marks.isDeleted(n);
  }

  check(n: number | null): number {
    return this.#marks.check(n);
  }

  get(n: number | null): SnapshotMessage {
    const entry = this.entry(this.check(n));
    if (entry === undefined) throw new Pop3Error(`message ${n} was removed by another client`);
    return entry;
  }

  markDeleted(n: number): void {
    this.#marks.markDeleted(n);
  }

  reset(): void {
    this.#marks.reset();
  }

  markRetrieved(n: number): void {
    this.#marks.markRetrieved(n);
  }

  readInto(message: Pop3Message, buf: Uint8Array, at: number): boolean {
    return readSmallInto((message as SnapshotMessage).path, message.size, buf, at);
  }

  async read(message: Pop3Message): Promise<Uint8Array> {
    return await Deno.readFile(await this.#pathNow(message as SnapshotMessage));
  }

  async open(message: Pop3Message): Promise<Deno.FsFile> {
    return await Deno.open(await this.#pathNow(message as SnapshotMessage));
  }

  /**
   * The message's file: where the snapshot saw it, else where the main thread's folder
   * says it went (NotFound when it is gone: the caller's "removed by another client").
   */
  async #pathNow(m: SnapshotMessage): Promise<string> {
    if (m.size <= SYNC_READ_LIMIT) {
      try {
        Deno.statSync(m.path);
        return m.path;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    } else if (await exists(m.path)) return m.path;
    const now = await this.#main.file(m.n);
    if (now === null) throw new Deno.errors.NotFound(`message ${m.n} is gone`);
    return now;
  }

  /** Asks the main thread which messages were expunged since the login (UIDL leaves them out). */
  async learnGone(): Promise<void> {
    for (const n of await this.#main.gone()) this.#files[n - 1] = "gone/";
  }

  commit(): Promise<number> {
    return this.#main.commit(this.#marks.deleted, this.#marks.retrieved);
  }

  async markSeen(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#main.end(this.#marks.deleted, this.#marks.retrieved);
  }

  /** The main thread releases the lock when told the session ended (markSeen). */
  release(): void {}
}
