/**
 * Message transfer: DATA (RFC 5321 4.1.1.4, dot-stuffing 4.5.2) and BDAT (RFC 3030
 * CHUNKING), then the hand-over to the pipeline's deliver(), which resolves only
 * once the message is durable (SPEC §7). Content is handled as bytes throughout and
 * goes into the pipeline's MessageSink as it arrives: memory first, then a spool file
 * (src/delivery/incoming.ts), so a transfer holds at most about 1 MiB in memory. The
 * spool file is removed after delivery, after a refusal and when the client goes away.
 */
import { FEED_SLICE, type MessageSink, type ReceivedMessage } from "../delivery/incoming.ts";
import type { SmtpReply } from "../delivery/types.ts";
import { LineChecker } from "../message/line_endings.ts";
import type { Connection } from "../net/connection.ts";
import {
  asTransfer,
  type BulkConnection,
  type BulkSlots,
  type BulkTransfer,
  messageSlots,
  pace,
  readBulk,
} from "../net/bulk_input.ts";
import { newQueueId } from "../queue/id.ts";
import { parseBdat } from "./command.ts";
import { type ContentProblems, DataReader } from "./data.ts";
import {
  BARE_NEWLINE_DATA,
  fail,
  INTERNAL_ERROR,
  NEED_MAIL,
  NO_RECIPIENTS,
  reply,
  SmtpError,
  TOO_LARGE,
} from "./replies.ts";
import type { SmtpSession } from "./session.ts";
import { deliverySlots } from "./slots.ts";

/** RFC 5321 4.1.1.4 DATA. */
export async function data(s: SmtpSession, arg: string): Promise<void> {
  if (arg !== "") fail(501, "5.5.4", "Syntax: DATA");
  s.requireGreeting();
  const tx = s.tx;
  if (!tx) throw new SmtpError(NEED_MAIL);
  // RFC 3030 2: DATA may not follow BDAT in the same transaction.
  if (s.chunks || s.chunksFailed) fail(503, "5.5.1", "Error: DATA not allowed after BDAT");
  // RFC 2920 3.1 / RFC 5321 3.3: with every RCPT refused, DATA gets 554.
  if (tx.recipients.length === 0) throw new SmtpError(NO_RECIPIENTS);
  s.reply(reply(354, "", "End data with <CR><LF>.<CR><LF>")); // intermediate: no enhanced code
  s.flush();
  s.transferring = true;
  const queueId = newQueueId();
  const sink = s.pipeline.openMessage(s.ctx, s.info, tx, queueId);
  try {
    const reader = new DataReader(s.ctx.config.MaxMailSize, sink);
    if (!(await readData(s.conn, reader, sink))) {
      s.log.info`connection lost during DATA after ${reader.size} octets`;
      s.closing = true;
      return;
    }
    const problem = contentProblem(reader);
    if (problem) {
      s.log.info`message refused (${problem.code} ${problem.text}), ${reader.size} octets`;
      s.resetTransaction();
      s.reply(problem);
      return;
    }
    await finishMessage(s, sink, queueId);
  } finally {
    s.transferring = false;
    await sink.discard();
  }
}

/** What readData uses of a connection and of a sink (tests give stand-ins). */
export type DataInput =
  & Pick<Connection, "peekInput" | "consumeInput" | "bufferedInput">
  & BulkConnection;
export type FlushingSink = Pick<MessageSink, "append" | "wantsFlush" | "flush">;

/**
 * Feeds the connection's input to the reader until the end of data; false at EOF. At
 * most FEED_SLICE at a time, so the sink writes to its file before it holds more. Read
 * while holding one of the message slots (net/bulk_input.ts).
 */
export async function readData(
  conn: DataInput,
  reader: DataReader<FlushingSink>,
  sink: FlushingSink,
  slots: BulkSlots = messageSlots,
): Promise<boolean> {
  return await asTransfer(slots, conn, (bulk) => feedData(conn, bulk, reader, sink));
}

async function feedData(
  conn: DataInput,
  bulk: BulkTransfer,
  reader: DataReader<FlushingSink>,
  sink: FlushingSink,
): Promise<boolean> {
  for (;;) {
    // SPEC §7: a few messages read at a time, and those share the event loop's turns.
    if (conn.bufferedInput > 0) await pace(bulk);
    const view = conn.peekInput();
    if (view.length > 0) {
      const slice = view.length > FEED_SLICE ? view.subarray(0, FEED_SLICE) : view;
      const used = reader.feed(slice);
      conn.consumeInput(used);
      if (sink.wantsFlush) await sink.flush();
      if (reader.done) return true;
      // Input the reader has not seen: beyond the slice, or come while the sink wrote
      // (only the tail it held back, waiting for its end, is not news).
      if (conn.bufferedInput > slice.length - used) continue;
    }
    if (!(await bulk.waitForInput())) return false;
  }
}

/** RFC 3030 2: `BDAT <size> [LAST]`; the chunk is always read, even when refused. */
export async function bdat(s: SmtpSession, arg: string): Promise<void> {
  const { size, last } = parseBdat(arg);
  const tx = s.tx;
  let refusal: SmtpError | null = null;
  if (s.chunksFailed) refusal = new SmtpError(TOO_LARGE, false);
  else if (!s.greeted) refusal = new SmtpError(reply(503, "5.5.1", "Error: send HELO/EHLO first"));
  else if (!tx) refusal = new SmtpError(NEED_MAIL);
  else if (tx.recipients.length === 0) refusal = new SmtpError(NO_RECIPIENTS);
  s.transferring = true;
  try {
    if (refusal || !tx) {
      if (!(await readChunk(s.conn, size, null))) s.closing = true;
      if (last) s.chunksFailed = false;
      throw refusal ?? new SmtpError(NEED_MAIL);
    }
    const max = s.ctx.config.MaxMailSize;
    let chunks = s.chunks;
    if (!chunks) {
      const queueId = newQueueId();
      const sink = s.pipeline.openMessage(s.ctx, s.info, tx, queueId);
      chunks = s.chunks = { sink, lines: new LineChecker(), size: 0, queueId };
    }
    const total = chunks.size + size;
    if (max > 0 && total > max) {
      // RFC 1870 / RFC 3030 3: too big; the rest of this message's chunks are dropped.
      if (!(await readChunk(s.conn, size, null))) s.closing = true;
      s.resetTransaction();
      s.chunksFailed = !last;
      s.log.info`message refused: over MaxMailSize after ${total} octets (BDAT)`;
      throw new SmtpError(TOO_LARGE, false);
    }
    if (!(await readChunk(s.conn, size, chunks))) {
      s.log.info`connection lost during BDAT`;
      s.closing = true;
      return;
    }
    chunks.size = total;
    if (!last) {
      s.reply(reply(250, "2.0.0", `${size} octets received`));
      return;
    }
    const problem = contentProblem({ ...chunks.lines.end(), tooLarge: false });
    if (problem) {
      s.log.info`message refused (${problem.code} ${problem.text}), ${chunks.size} octets`;
      s.resetTransaction();
      s.reply(problem);
      return;
    }
    s.chunks = null; // finishMessage owns the content now
    await finishMessage(s, chunks.sink, chunks.queueId);
  } catch (e) {
    // A local failure: the chunks so far go; later chunks are read and refused.
    if (!(e instanceof SmtpError)) s.resetTransaction();
    throw e;
  } finally {
    s.transferring = false;
  }
}

/**
 * Reads exactly `n` bytes into the message (or drops them when null), its lines checked
 * as they pass; false at EOF.
 */
async function readChunk(
  conn: Connection,
  n: number,
  into: { sink: MessageSink; lines: LineChecker } | null,
): Promise<boolean> {
  return await readBulk(conn, n, (piece) => {
    if (!into) return;
    into.lines.push(piece);
    into.sink.append(piece);
    if (into.sink.wantsFlush) return into.sink.flush();
  });
}

function contentProblem(p: ContentProblems): SmtpReply | null {
  if (p.tooLarge) return TOO_LARGE; // RFC 5321 4.5.3.1.10: 552 too much mail data
  if (p.bareNewline) return BARE_NEWLINE_DATA;
  // SPEC §6: lines over 998 octets are accepted and stored unchanged (as Postfix and
  // Dovecot do); the queue sends them with BDAT or wraps them for a strict next hop.
  return null;
}

/**
 * Hands the complete message to the pipeline and answers with its verdict; the spool
 * file goes once the pipeline is done with it (delivered, queued or refused).
 */
async function finishMessage(s: SmtpSession, sink: MessageSink, queueId: string): Promise<void> {
  const tx = s.tx!;
  s.flush();
  s.busy = true;
  let answer: SmtpReply;
  let message: ReceivedMessage | null = null;
  try {
    const received = message = await sink.finish();
    answer = await deliverySlots(s.ctx).run(() =>
      s.pipeline.deliver(s.ctx, s.info, tx, received, queueId)
    );
  } catch (e) {
    s.log.error`delivery of ${queueId} failed: ${e instanceof Error ? e.stack ?? e.message : e}`;
    answer = INTERNAL_ERROR;
  } finally {
    s.busy = false;
    await (message ?? sink).discard();
  }
  s.resetTransaction();
  s.reply(answer);
  // An accepted message has its line from the pipeline (queue id, sender, recipients,
  // size, client's user): a second one here cost a line's formatting and bytes per message.
  if (!answer.positive) s.log.info`message ${queueId} refused: ${answer.toString().trimEnd()}`;
}
