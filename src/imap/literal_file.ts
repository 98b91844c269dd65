/**
 * IMAP literals as bulk input. APPEND message literals too large to keep in memory (SPEC
 * §7: a message in transfer holds at most 1 MiB; RFC 9051 §6.3.12) are read from the
 * connection into a file in `DirBase/incoming/` as they arrive, bare LFs made CRLF on the
 * way (messages are stored with CRLF), so that APPEND links the file into the mailbox
 * without reading it back; the session removes the file once the command is done. Any
 * literal over BULK_LITERAL, in a file or in memory, is read holding one of the message
 * slots, as SMTP DATA is (net/bulk_input.ts): 100 clients appending big messages at once
 * take turns and leave the event loop to the other sessions.
 */
import { CrlfStream, toCrlf } from "../message/line_endings.ts";
import type { Connection } from "../net/connection.ts";
import { type BulkInput, type BulkSlots, messageSlots, readBulk } from "../net/bulk_input.ts";
import { MessageContent } from "../store/content.ts";
import type { IncomingFiles } from "../store/incoming.ts";
import type { OffThreadFile } from "../store/spool_writer.ts";
import type { SpooledLiteral, Token } from "./parser.ts";

/** APPEND literals larger than this go to a file instead of memory. */
export const LITERAL_IN_MEMORY = 256 * 1024;
/** Literals larger than this are bulk input (read holding a message slot). */
export const BULK_LITERAL = 64 * 1024;

/** What the literal readers use of a connection (tests give stand-ins). */
export type LiteralInput = BulkInput & Pick<Connection, "readBytes">;

/**
 * Reads the `n` octets still to come of a literal kept in memory, handing copies of them
 * to `push`; false at EOF. One read when small (a SEARCH string, a short APPEND), as a
 * command line is; a large one as bulk input, holding a slot.
 */
export async function readLiteral(
  conn: LiteralInput,
  n: number,
  push: (bytes: Uint8Array) => void,
  slots: BulkSlots = messageSlots,
): Promise<boolean> {
  if (n <= BULK_LITERAL) {
    const block = await conn.readBytes(n);
    if (block === null) return false;
    push(block);
    return true;
  }
  return await readBulk(conn, n, (piece) => push(piece.slice()), slots);
}

export type SpoolResult =
  | { kind: "stored"; literal: SpooledLiteral }
  /** Writing failed (disk full): the octets were read and dropped. */
  | { kind: "failed"; error: Error }
  /** The connection ended before the literal did (the file is gone). */
  | { kind: "eof" };

/** Reads `size` octets from `conn` into a new file of `files`, holding a message slot. */
export async function spoolLiteral(
  conn: BulkInput,
  files: Pick<IncomingFiles, "create">,
  size: number,
  label: string,
  slots: BulkSlots = messageSlots,
): Promise<SpoolResult> {
  let target: { path: string; file: OffThreadFile } | null = null;
  let error: Error | null = null;
  // The literal stays in the kernel until the transfer holds its slot (readBulk resumes
  // it): waiting for the file, the connection would read on into its line buffer.
  conn.pauseInput();
  try {
    target = await files.create(label);
  } catch (e) {
    error = e as Error;
  }
  const crlf = new CrlfStream();
  let written = 0;
  // `piece` is a view of the connection's buffer, valid until the first await: write()
  // copies it into the file's shared buffer before it returns (its one copy; a 64 KiB
  // buffer of our own per literal was fresh memory, faulted in on the event loop).
  const write = async (piece: Uint8Array) => {
    if (error || !target) return; // read to its end all the same
    try {
      const out = crlf.push(piece);
      await target.file.write(out);
      written += out.length;
    } catch (e) {
      error = e as Error;
      await drop(target);
      target = null;
    }
  };
  try {
    const complete = await readBulk(conn, size, write, slots);
    if (!complete) {
      await drop(target);
      return { kind: "eof" };
    }
  } catch (e) {
    await drop(target);
    throw e;
  }
  if (error || !target) return { kind: "failed", error: error ?? new Error("no file") };
  const stored: { path: string; file: OffThreadFile } = target;
  await stored.file.close();
  return { kind: "stored", literal: { path: stored.path, size: written } };
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
