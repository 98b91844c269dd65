/**
 * APPEND message literals too large to keep in memory (SPEC §7: a message in transfer
 * holds at most 1 MiB; RFC 9051 §6.3.12): read from the connection into a file in
 * `DirBase/incoming/` as they arrive, bare LFs made CRLF on the way (messages are stored
 * with CRLF), so that APPEND links the file into the mailbox without reading it back.
 * The session removes the file once the command is done.
 */
import { CrlfStream, toCrlf } from "../message/line_endings.ts";
import type { Connection } from "../net/connection.ts";
import { MessageContent } from "../store/content.ts";
import type { IncomingFiles } from "../store/incoming.ts";
import type { OffThreadFile } from "../store/spool_writer.ts";
import type { SpooledLiteral, Token } from "./parser.ts";

/** APPEND literals larger than this go to a file instead of memory. */
export const LITERAL_IN_MEMORY = 256 * 1024;
/** Octets read from the connection per write to the file. */
const PIECE = 64 * 1024;

export type SpoolResult =
  | { kind: "stored"; literal: SpooledLiteral }
  /** Writing failed (disk full): the octets were read and dropped. */
  | { kind: "failed"; error: Error }
  /** The connection ended before the literal did (the file is gone). */
  | { kind: "eof" };

/** Reads `size` octets from `conn` into a new file of `files`. */
export async function spoolLiteral(
  conn: Connection,
  files: IncomingFiles,
  size: number,
  label: string,
): Promise<SpoolResult> {
  let target: { path: string; file: OffThreadFile } | null = null;
  let error: Error | null = null;
  try {
    target = await files.create(label);
  } catch (e) {
    error = e as Error;
  }
  const crlf = new CrlfStream();
  // One buffer for every piece: the input is copied out of the connection's buffer (which
  // may move while a write is in flight), and nothing is allocated per piece.
  const buf = new Uint8Array(Math.min(size, PIECE));
  let written = 0;
  try {
    for (let left = size; left > 0;) {
      const view = conn.peekInput();
      if (view.length === 0) {
        if (await conn.waitForInput()) continue;
        await drop(target);
        return { kind: "eof" };
      }
      const n = Math.min(view.length, left, buf.length);
      buf.set(view.subarray(0, n));
      conn.consumeInput(n);
      left -= n;
      if (error || !target) continue; // read to its end all the same
      try {
        const out = crlf.push(buf.subarray(0, n));
        await target.file.write(out);
        written += out.length;
      } catch (e) {
        error = e as Error;
        await drop(target);
        target = null;
      }
    }
  } catch (e) {
    await drop(target);
    throw e;
  }
  if (error || !target) return { kind: "failed", error: error ?? new Error("no file") };
  await target.file.close();
  return { kind: "stored", literal: { path: target.path, size: written } };
}

async function drop(target: { path: string; file: OffThreadFile } | null): Promise<void> {
  if (!target) return;
  await target.file.close();
  await Deno.remove(target.path).catch(() => {});
}

/**
 * A spooled literal as content to store: the file as it is, fsync'd once and hard-linked
 * into the mailbox (it is on the Maildirs' file system, under DirBase).
 */
export function literalContent(literal: SpooledLiteral): MessageContent {
  const { path, size } = literal;
  return new MessageContent([{ path, offset: 0, length: size }], {
    path,
    sync: async () => {
      const file = await Deno.open(path, { read: true });
      try {
        await file.sync();
      } finally {
        file.close();
      }
    },
  });
}

/**
 * The message of an APPEND as content to store (CRLF line endings): a literal's octets,
 * or its file; null when the token is no literal.
 */
export function appendData(t: Token): Uint8Array | MessageContent | null {
  if (t.kind === "file") return literalContent(t.file);
  if (t.kind === "string") return toCrlf(t.bytes);
  return null;
}
