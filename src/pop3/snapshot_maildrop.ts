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
import {
  checkMessageNumber,
  type MaildropSnapshot,
  type Pop3Maildrop,
  type Pop3Message,
} from "./maildrop.ts";
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
  readonly #s: MaildropSnapshot;
  readonly #files: string[];
  readonly #main: MainThreadStore;
  #visibleCount = 0;
  #visibleSize = 0;
  /** Told the main thread the session ended (markSeen): nothing more to do here. */
  #ended = false;

  constructor(snapshot: MaildropSnapshot, main: MainThreadStore) {
    this.#s = snapshot;
    this.#files = snapshot.files.split("\n");
    this.count = snapshot.uids.length;
    this.#main = main;
    this.#count();
  }

  #count(): void {
    this.#visibleCount = 0;
    this.#visibleSize = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.#s.deleted[i]) continue;
      this.#visibleCount++;
      this.#visibleSize += this.#s.sizes[i];
    }
  }

  get visibleCount(): number {
    return this.#visibleCount;
  }

  get visibleSize(): number {
    return this.#visibleSize;
  }

  sizeOf(n: number): number {
    return this.#s.sizes[n - 1];
  }

  /** Message n as of the snapshot; undefined when it had gone before the login's end. */
  entry(n: number): SnapshotMessage | undefined {
    const name = this.#files[n - 1];
    if (name === undefined || name === "gone/") return undefined;
    return new SnapshotMessage(n, this.#s.sizes[n - 1], this.#s.folderPath + "/" + name, name);
  }

  isDeleted(n: number): boolean {
    return this.#s.deleted[n - 1] === 1;
  }

  check(n: number | null): number {
    return checkMessageNumber(n, this.count, this.#s.deleted);
  }

  get(n: number | null): SnapshotMessage {
    const entry = this.entry(this.check(n));
    if (entry === undefined) throw new Pop3Error(`message ${n} was removed by another client`);
    return entry;
  }

  markDeleted(n: number): void {
    this.check(n);
    this.#s.deleted[n - 1] = 1;
    this.#visibleCount--;
    this.#visibleSize -= this.#s.sizes[n - 1];
  }

  reset(): void {
    this.#s.deleted.fill(0);
    this.#count();
  }

  markRetrieved(n: number): void {
    this.#s.retrieved[n - 1] = 1;
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
    return this.#main.commit(this.#s.deleted, this.#s.retrieved);
  }

  async markSeen(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#main.end(this.#s.deleted, this.#s.retrieved);
  }

  /** The main thread releases the lock when told the session ended (markSeen). */
  release(): void {}
}
