/**
 * The thread that writes the files of messages in transfer (spool_writer.ts). It holds
 * their descriptors; the event loop puts the bytes in the file's shared buffer, asks for
 * them to be written, and gets an answer per request.
 * Requests of one file are done in the order they came: a write is finished (writeSync)
 * before the next request is taken, and an fsync (async: the runtime's blocking pool)
 * is awaited before that file's close.
 */
import { SPOOL_BUFFER, type SpoolReply, type SpoolRequest } from "./spool_writer.ts";

/** Open files, each with the buffer its write requests hand over. */
const files = new Map<number, { file: Deno.FsFile; buffer: Uint8Array }>();
/** A file's fsync under way: its close waits for it. */
const syncing = new Map<number, Promise<void>>();
let nextFd = 1;

const port = self as unknown as Worker;

function answer(id: number, fd = 0, buffer?: SharedArrayBuffer): void {
  port.postMessage({ id, fd, buffer } satisfies SpoolReply);
}

function fail(id: number, e: unknown): void {
  const error = e instanceof Error ? e : new Error(String(e));
  port.postMessage(
    { id, error: { name: error.name, message: error.message } } satisfies SpoolReply,
  );
}

function fileOf(fd: number): { file: Deno.FsFile; buffer: Uint8Array } {
  const open = files.get(fd);
  if (!open) throw new Error(`spool file ${fd} is not open`);
  return open;
}

port.onmessage = (ev: MessageEvent<SpoolRequest>) => {
  const r = ev.data;
  try {
    switch (r.op) {
      case "create": {
        const file = Deno.openSync(r.path, {
          read: true,
          write: true,
          createNew: true,
          mode: r.mode,
        });
        const fd = nextFd++;
        // Made here, not on the event loop (spool_writer.ts create), and written once: a
        // new buffer's pages are mapped at their first write, and that was the event
        // loop's, 48 page faults per file as a transfer started (docs/performance.md,
        // branch blocks). A page this thread touched is there for every thread.
        const buffer = new SharedArrayBuffer(SPOOL_BUFFER);
        const view = new Uint8Array(buffer);
        view.fill(0);
        files.set(fd, { file, buffer: view });
        return answer(r.id, fd, buffer);
      }
      case "write": {
        const { file, buffer } = fileOf(r.fd);
        const bytes = buffer.subarray(0, r.length);
        for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
        return answer(r.id);
      }
      case "sync": {
        const done = fileOf(r.fd).file.sync().then(() => answer(r.id), (e) => fail(r.id, e));
        syncing.set(r.fd, done);
        return;
      }
      case "close": {
        const file = files.get(r.fd)?.file;
        files.delete(r.fd);
        const close = () => {
          syncing.delete(r.fd);
          try {
            file?.close();
          } catch { /* closed already */ }
          answer(r.id);
        };
        const pending = syncing.get(r.fd);
        if (pending) void pending.then(close);
        else close();
        return;
      }
    }
  } catch (e) {
    fail(r.id, e);
  }
};
