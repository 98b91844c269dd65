/**
 * Writes to the files of messages in transfer (`DirBase/incoming/`, incoming.ts) on a
 * thread of their own (spool_write_worker.ts). In Deno 2.x a write to a file runs on the
 * thread that calls it, the async FsFile.write() and node's fs.promises included (the
 * whole call returns only once the data is written); and when the kernel throttles a
 * process that dirties pages faster than the disk takes them, the write waits there. With
 * 100 clients each sending 25 MiB (bench hostile), writes held the event loop, every
 * session with it, for up to 525 ms at a time and 6.4 s in all. The event loop now posts
 * the bytes (a copy, transferred) and awaits the answer, so a transfer still writes one
 * chunk before it reads more, as before.
 *
 * The thread starts with the first file and stops LINGER_MS after the last one is closed
 * (or at close()), so an idle server holds no thread for it.
 */
import { LingeringWorker, startWorker } from "../workers.ts";

/** A request to the thread (`fd`: its number for a file it opened). */
export type SpoolRequest =
  | { id: number; op: "create"; path: string; mode: number }
  /** Writes the first `length` octets of the file's buffer. */
  | { id: number; op: "write"; fd: number; length: number }
  | { id: number; op: "sync"; fd: number }
  | { id: number; op: "close"; fd: number };

/**
 * The answer to request `id`: done (for a create, `fd` and the file's `buffer`, made by the
 * thread), or the error it raised.
 */
export interface SpoolReply {
  id: number;
  fd?: number;
  buffer?: SharedArrayBuffer;
  error?: { name: string; message: string };
}

/** One file being written by the thread. */
export interface OffThreadFile {
  /** Writes all of `bytes` (copied at once: the caller may reuse its buffer). */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * SPOOL_BUFFER octets shared with the thread: a writer that collects its content here
   * and calls writeBuffer() saves a copy. Not to be touched while a request is under way.
   */
  readonly buffer: Uint8Array;
  /** Writes the first `length` octets of `buffer`; it is free again once this resolves. */
  writeBuffer(length: number): Promise<void>;
  /** fsync (after the writes asked for before it). */
  sync(): Promise<void>;
  /** Closes the descriptor (after a sync under way); idempotent, never rejects. */
  close(): Promise<void>;
}

const LINGER_MS = 5_000;
/**
 * Octets of a file's buffer shared with the thread: larger writes go in pieces. It holds
 * a spooling message's chunk as MessageSink collects it (delivery/incoming.ts: 128 KiB
 * and up to one 64 KiB slice more).
 */
export const SPOOL_BUFFER = 192 * 1024;

interface Waiter {
  resolve: (reply: SpoolReply) => void;
  reject: (e: Error) => void;
}

export class SpoolWriter {
  /** Bumped when the thread stops: files of an earlier thread are closed with it. */
  #generation = 0;
  #waiters = new Map<number, Waiter>();
  #nextId = 1;
  #openFiles = 0;
  readonly #thread = new LingeringWorker<SpoolReply>({
    start: (on) => startWorker(new URL("./spool_write_worker.ts", import.meta.url).href, on),
    lingerMs: LINGER_MS,
    idle: () => this.#openFiles === 0 && this.#waiters.size === 0,
    message: (reply) => {
      const waiter = this.#waiters.get(reply.id);
      this.#waiters.delete(reply.id);
      if (reply.error) waiter?.reject(rebuildError(reply.error));
      else waiter?.resolve(reply);
      this.#thread.linger();
    },
    error: (why) => this.#stopped(new Error(`spool writer thread failed: ${why}`)),
  });

  /**
   * Creates a new file (it must not exist) and opens it for writing. Its shared buffer is
   * made by the thread: making 192 KiB zeroed costs about 0.4 ms here (48 page faults, each
   * slow on this VM), and 100 clients starting a transfer at once held the event loop for
   * 40 ms of it (bench hostile's many-append).
   */
  async create(path: string, mode: number): Promise<OffThreadFile> {
    const reply = await this.#ask({ id: 0, op: "create", path, mode });
    this.#openFiles++;
    return new ThreadFile(this, reply.fd!, this.#generation, new Uint8Array(reply.buffer!));
  }

  /** Stops the thread now; requests still under way fail. */
  close(): void {
    if (!this.#thread.running) return;
    this.#thread.stop();
    this.#stopped(new Error("spool writer closed"));
  }

  /** @internal ThreadFile's requests. */
  request(generation: number, r: SpoolRequest): Promise<SpoolReply> {
    if (generation !== this.#generation) {
      return Promise.reject(new Error("spool writer thread stopped; the file is closed"));
    }
    return this.#ask(r);
  }

  /** @internal A ThreadFile was closed. */
  closed(generation: number): void {
    if (generation === this.#generation) this.#openFiles--;
    this.#thread.linger();
  }

  #ask(r: SpoolRequest): Promise<SpoolReply> {
    const worker = this.#thread.get();
    if (!worker) return Promise.reject(new Error("spool writer thread unavailable"));
    r.id = this.#nextId++;
    return new Promise<SpoolReply>((resolve, reject) => {
      this.#waiters.set(r.id, { resolve, reject });
      worker.postMessage(r);
    });
  }

  /** The thread is gone: its files are closed, requests under way fail with `error`. */
  #stopped(error: Error): void {
    this.#generation++;
    this.#openFiles = 0;
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of waiters) w.reject(error);
  }
}

class ThreadFile implements OffThreadFile {
  #closed: Promise<void> | null = null;
  /** The last request: the next one is made once it is answered. */
  #last: Promise<void> = Promise.resolve();
  /** Requests made or waiting and not yet answered: while any, the buffer is in use. */
  #pending = 0;

  constructor(
    readonly writer: SpoolWriter,
    readonly fd: number,
    readonly generation: number,
    /** Shared with the thread: what the next write request hands over. */
    readonly buffer: Uint8Array,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("spool file is closed"));
    const size = this.buffer.length;
    if (this.#pending === 0 && bytes.length <= size) {
      // The usual write: into the buffer at once, no copy of our own.
      this.buffer.set(bytes);
      return this.#then({ id: 0, op: "write", fd: this.fd, length: bytes.length });
    }
    // The caller's bytes are copied before write() returns (it may reuse them), and go
    // into the buffer piece by piece as the thread answers.
    let done: Promise<void> = Promise.resolve();
    for (let at = 0; at < bytes.length; at += size) {
      const piece = bytes.slice(at, at + size);
      done = this.#then({ id: 0, op: "write", fd: this.fd, length: piece.length }, piece);
    }
    return done;
  }

  writeBuffer(length: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("spool file is closed"));
    if (this.#pending > 0) return Promise.reject(new Error("spool buffer is in use"));
    return this.#then({ id: 0, op: "write", fd: this.fd, length });
  }

  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("spool file is closed"));
    return this.#then({ id: 0, op: "sync", fd: this.fd });
  }

  close(): Promise<void> {
    this.#closed ??= this.#then({ id: 0, op: "close", fd: this.fd })
      .catch(() => {})
      .finally(() => this.writer.closed(this.generation));
    return this.#closed;
  }

  /** Makes request `r` once the last one is answered (`piece` put in the buffer first). */
  #then(r: SpoolRequest, piece?: Uint8Array): Promise<void> {
    this.#pending++;
    const done = this.#last
      .then(() => {
        if (piece) this.buffer.set(piece);
        return this.writer.request(this.generation, r);
      })
      .finally(() => this.#pending--);
    this.#last = done.then(() => {}, () => {});
    return done.then(() => {});
  }
}

/** The thread's error as the class Deno would have thrown here (NotFound, AlreadyExists...). */
function rebuildError(e: { name: string; message: string }): Error {
  const known = (Deno.errors as unknown as Record<string, (new (m: string) => Error) | undefined>)[
    e.name
  ];
  const error = known ? new known(e.message) : new Error(e.message);
  if (!known) error.name = e.name;
  return error;
}
