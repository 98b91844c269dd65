/**
 * TRANSACTION state commands (RFC 1939 §5, §7): STAT, LIST, UIDL, TOP, RETR, DELE,
 * RSET, NOOP. They work on the session's maildrop snapshot; nothing is removed from
 * disk before QUIT (session.ts).
 */
import {
  type Pop3Maildrop as Maildrop,
  type Pop3Message,
  STREAM_ABOVE,
  SYNC_READ_LIMIT,
} from "./maildrop.ts";
import { allocReply } from "../net/outbuf.ts";
import { dotStuff, DotStuffer, terminateInPlace } from "../message/dot_stuffing.ts";
import {
  decimalLength,
  OK_OCTETS_FIXED,
  TopCut,
  topOf,
  uniqueIdFor,
  writeOctetsStatus,
} from "./message_bytes.ts";
import { multilineText, okLine, parseNumber, Pop3Error, splitArgs } from "./protocol.ts";
import type { Pop3Command, Pop3Session } from "./session.ts";

const encoder = new TextEncoder();

function maildropOf(s: Pop3Session): Maildrop {
  // The state table only lets these commands run in TRANSACTION, where it is set.
  return s.maildrop!;
}

/** The single message-number argument of LIST n, UIDL n, RETR, DELE. */
function messageArg(rest: string, usage: string): number {
  // Just the digits (what clients send): no argument array to make.
  const plain = parseNumber(rest);
  if (plain !== null) return plain;
  const args = splitArgs(rest);
  if (args.length !== 1) throw new Pop3Error(`usage: ${usage}`);
  const n = parseNumber(args[0]);
  if (n === null) throw new Pop3Error("message number must be a positive decimal number");
  return n;
}

/**
 * The stored bytes of message n. A message expunged meanwhile by an IMAP client
 * cannot be sent; that is the client's answer, not a server fault.
 */
async function readMessage(md: Maildrop, n: number, entry: Pop3Message): Promise<Uint8Array> {
  try {
    return await md.read(entry);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Pop3Error(`message ${n} was removed by another client`);
    }
    throw e;
  }
}

/**
 * RETR's reply built around the message read into its buffer: status line, the file's
 * bytes read in place after it, the terminator appended. Null when the file cannot be
 * read that way (large, renamed, size changed) or needs dot-stuffing or repair.
 */
function retrInPlace(md: Maildrop, entry: Pop3Message): Uint8Array | null {
  if (entry.size > SYNC_READ_LIMIT) return null;
  // "+OK <size> octets" CRLF, written as bytes: no string per RETR.
  const start = OK_OCTETS_FIXED + decimalLength(entry.size);
  const end = start + entry.size;
  // Room for the message, one byte more (readInto's check) and ".CRLF": then a message
  // ending in CRLF (nearly all) fills the buffer exactly and is sent without another
  // view. An unterminated last line needs 2 more and goes through dotStuff's copy.
  const buf = allocReply(end + 3);
  writeOctetsStatus(buf, entry.size);
  if (!md.readInto(entry, buf, start)) return null;
  return terminateInPlace(buf, start, end) ??
    dotStuff(buf.subarray(start, end), { prefix: buf.subarray(0, start) });
}

/** RETR of a message read with read(): large, renamed meanwhile, or its size changed. */
async function retrCopied(s: Pop3Session, md: Maildrop, n: number, entry: Pop3Message) {
  const data = await readMessage(md, n, entry);
  s.replyBytes(dotStuff(data, { prefix: encoder.encode(`+OK ${data.length} octets\r\n`) }));
  md.markRetrieved(n);
}

/** Octets read from a message file per chunk when streaming. */
const STREAM_CHUNK = 64 * 1024;

/**
 * A multi-line response for a large message, sent in chunks read from its file and
 * dot-stuffed as they go (RFC 1939 §3). Each chunk waits for the client to take the
 * previous ones (back-pressure, SPEC §7): a client that does not read holds one chunk.
 * `cut` ends the response early (TOP). Resolves once the terminator is written.
 */
async function sendStreamed(
  s: Pop3Session,
  md: Maildrop,
  n: number,
  entry: Pop3Message,
  status: (size: number) => string,
  cut: TopCut | null,
): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await md.open(entry);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Pop3Error(`message ${n} was removed by another client`);
    }
    throw e;
  }
  try {
    const size = (await file.stat()).size;
    await s.flush(); // replies queued before this one go first
    await s.conn.write(status(size));
    const stuffer = new DotStuffer();
    while (!s.conn.closed && !cut?.done) {
      // A fresh buffer each time: the socket keeps a written one until it is sent.
      const buf = new Uint8Array(STREAM_CHUNK);
      const got = await file.read(buf);
      if (got === null) break;
      const piece = buf.subarray(0, got);
      const out = stuffer.push(cut ? cut.take(piece) : piece);
      if (out.length > 0) await s.conn.write(out);
    }
    await s.conn.write(stuffer.end());
  } finally {
    file.close();
  }
}

/**
 * "n value" scan listing of every message not marked deleted (LIST, UIDL); a message
 * whose value is null (UIDL of one expunged by an IMAP client meanwhile) is left out.
 */
function listing(md: Maildrop, value: (md: Maildrop, n: number) => string | number | null) {
  const lines: string[] = [];
  for (let n = 1; n <= md.count; n++) {
    if (md.isDeleted(n)) continue;
    const v = value(md, n);
    if (v !== null) lines.push(`${n} ${v}`);
  }
  return lines;
}

/** A message's size as listed at login (RFC 1939 §5 LIST). */
const listedSize = (md: Maildrop, n: number) => md.sizeOf(n); // n checked by the caller

/** A message's unique-id (RFC 1939 §7 UIDL); null when it is gone. */
function uniqueIdOf(md: Maildrop, n: number): string | null {
  const entry = md.entry(n);
  return entry === undefined ? null : uniqueIdFor(entry.base);
}

function scanListing(
  s: Pop3Session,
  rest: string,
  usage: string,
  value: (md: Maildrop, n: number) => string | number | null,
): void {
  const md = maildropOf(s);
  if (splitArgs(rest).length === 0) {
    s.reply(multilineText(
      `${md.visibleCount} messages (${md.visibleSize} octets)`,
      listing(md, value),
    ));
    return;
  }
  const n = messageArg(rest, usage);
  const v = value(md, md.check(n));
  if (v === null) throw new Pop3Error(`message ${n} was removed by another client`);
  s.reply(okLine(`${n} ${v}`));
}

export const TRANSACTION_COMMANDS: Record<string, Pop3Command> = {
  STAT: {
    states: ["transaction"],
    run(s) {
      const md = maildropOf(s);
      // RFC 1939 §5: "+OK nn mm", nothing else may follow the numbers but a space.
      s.reply(okLine(`${md.visibleCount} ${md.visibleSize}`));
    },
  },

  LIST: {
    states: ["transaction"],
    run: (s, rest) => scanListing(s, rest, "LIST [msg]", listedSize),
  },

  UIDL: {
    states: ["transaction"],
    run(s, rest) {
      const learning = maildropOf(s).learnGone();
      if (!learning) return scanListing(s, rest, "UIDL [msg]", uniqueIdOf);
      return learning.then(() => scanListing(s, rest, "UIDL [msg]", uniqueIdOf));
    },
  },

  RETR: {
    states: ["transaction"],
    run(s, rest) {
      const md = maildropOf(s);
      const n = messageArg(rest, "RETR msg");
      const entry = md.get(n);
      // The common case, synchronously: no promise, no copy of the message.
      const wire = retrInPlace(md, entry);
      if (wire) {
        s.replyBytes(wire);
        md.markRetrieved(n);
        return;
      }
      if (entry.size <= STREAM_ABOVE) return retrCopied(s, md, n, entry);
      return sendStreamed(s, md, n, entry, (size) => `+OK ${size} octets\r\n`, null)
        .then(() => md.markRetrieved(n));
    },
  },

  TOP: {
    states: ["transaction"],
    async run(s, rest) {
      const md = maildropOf(s);
      const args = splitArgs(rest);
      const n = parseNumber(args[0]);
      const lines = parseNumber(args[1]);
      if (args.length !== 2 || n === null || lines === null) {
        throw new Pop3Error("usage: TOP msg lines (two non-negative numbers)");
      }
      const entry = md.get(n);
      // TOP shows part of a message (clients use it to preview), so it does not mark \Seen.
      if (entry.size > STREAM_ABOVE) {
        const status = () => "+OK top of message follows\r\n";
        return await sendStreamed(s, md, n, entry, status, new TopCut(lines));
      }
      const data = await readMessage(md, n, entry);
      s.replyBytes(
        dotStuff(topOf(data, lines), { prefix: encoder.encode("+OK top of message follows\r\n") }),
      );
    },
  },

  DELE: {
    states: ["transaction"],
    run(s, rest) {
      const n = messageArg(rest, "DELE msg");
      maildropOf(s).markDeleted(n);
      s.reply(okLine(`message ${n} deleted`));
    },
  },

  RSET: {
    states: ["transaction"],
    run(s) {
      const md = maildropOf(s);
      md.reset();
      s.reply(okLine(`maildrop has ${md.visibleCount} messages (${md.visibleSize} octets)`));
    },
  },

  NOOP: {
    states: ["transaction"],
    run(s) {
      s.reply(okLine(""));
    },
  },
};
