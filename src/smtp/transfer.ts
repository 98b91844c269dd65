/**
 * Message transfer: DATA (RFC 5321 4.1.1.4, dot-stuffing 4.5.2) and BDAT (RFC 3030
 * CHUNKING), then the hand-over to the pipeline's deliver(), which resolves only
 * once the message is durable (SPEC §7). Content is handled as bytes throughout.
 */
import type { SmtpReply } from "../delivery/types.ts";
import { checkLines } from "../message/line_endings.ts";
import type { Connection } from "../net/connection.ts";
import { newQueueId } from "../queue/id.ts";
import { parseBdat } from "./command.ts";
import { BodyBuffer, type ContentProblems, DataReader, MAX_PREALLOCATION } from "./data.ts";
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
  try {
    const reader = new DataReader(s.ctx.config.MaxMailSize, tx.params.size);
    if (!(await readData(s.conn, reader))) {
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
    await finishMessage(s, reader.body.bytes());
  } finally {
    s.transferring = false;
  }
}

/** Feeds the connection's input to the reader until the end of data; false at EOF. */
async function readData(conn: Connection, reader: DataReader): Promise<boolean> {
  for (;;) {
    const view = conn.peekInput();
    if (view.length > 0) {
      conn.consumeInput(reader.feed(view));
      if (reader.done) return true;
    }
    if (!(await conn.waitForInput())) return false;
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
    const chunks = s.chunks ??= {
      body: new BodyBuffer(Math.min((tx.params.size ?? size) + 1024, MAX_PREALLOCATION)),
      size: 0,
    };
    const total = chunks.size + size;
    if (max > 0 && total > max) {
      // RFC 1870 / RFC 3030 3: too big; the rest of this message's chunks are dropped.
      if (!(await readChunk(s.conn, size, null))) s.closing = true;
      s.resetTransaction();
      s.chunksFailed = !last;
      s.log.info`message refused: over MaxMailSize after ${total} octets (BDAT)`;
      throw new SmtpError(TOO_LARGE, false);
    }
    if (!(await readChunk(s.conn, size, chunks.body))) {
      s.log.info`connection lost during BDAT`;
      s.closing = true;
      return;
    }
    chunks.size = total;
    if (!last) {
      s.reply(reply(250, "2.0.0", `${size} octets received`));
      return;
    }
    const message = chunks.body.bytes();
    const problem = contentProblem({ ...checkLines(message), tooLarge: false });
    if (problem) {
      s.log.info`message refused (${problem.code} ${problem.text}), ${message.length} octets`;
      s.resetTransaction();
      s.reply(problem);
      return;
    }
    await finishMessage(s, message);
  } finally {
    s.transferring = false;
  }
}

/** Reads exactly `n` bytes into `into` (or drops them when null); false at EOF. */
async function readChunk(conn: Connection, n: number, into: BodyBuffer | null): Promise<boolean> {
  let remaining = n;
  while (remaining > 0) {
    const view = conn.peekInput();
    if (view.length > 0) {
      const k = Math.min(view.length, remaining);
      into?.append(view.subarray(0, k));
      conn.consumeInput(k);
      remaining -= k;
      continue;
    }
    if (!(await conn.waitForInput())) return false;
  }
  return true;
}

function contentProblem(p: ContentProblems): SmtpReply | null {
  if (p.tooLarge) return TOO_LARGE; // RFC 5321 4.5.3.1.10: 552 too much mail data
  if (p.bareNewline) return BARE_NEWLINE_DATA;
  // SPEC §6: lines over 998 octets are accepted and stored unchanged (as Postfix and
  // Dovecot do); the queue sends them with BDAT or wraps them for a strict next hop.
  return null;
}

/** Hands the complete message to the pipeline and answers with its verdict. */
async function finishMessage(s: SmtpSession, message: Uint8Array): Promise<void> {
  const tx = s.tx!;
  const queueId = newQueueId();
  s.flush();
  s.busy = true;
  let answer: SmtpReply;
  try {
    answer = await deliverySlots(s.ctx).run(() =>
      s.pipeline.deliver(s.ctx, s.info, tx, message, queueId)
    );
  } catch (e) {
    s.log.error`delivery of ${queueId} failed: ${e instanceof Error ? e.stack ?? e.message : e}`;
    answer = INTERNAL_ERROR;
  } finally {
    s.busy = false;
  }
  s.resetTransaction();
  s.reply(answer);
  if (answer.positive) {
    s.log
      .info`accepted ${queueId} from=<${tx.from}> rcpts=${tx.recipients.length} size=${message.length}${
      s.info.authUser ? ` auth=${s.info.authUser.name}@${s.info.authUser.domain}` : ""
    }`;
  } else {
    s.log.info`message ${queueId} refused: ${answer.toString().trimEnd()}`;
  }
}
