/**
 * One mail transaction over an open session (RFC 5321 §3.3): MAIL with SIZE (RFC 1870),
 * BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and the DSN parameters (RFC 3461: RET,
 * ENVID; NOTIFY, ORCPT on RCPT) where the server announces them, RCPT, then DATA, or BDAT
 * (RFC 3030) for a message with lines over 998 octets when the server offers CHUNKING
 * (without it such a message is wrapped: src/message/long_lines.ts). Lock-step or as one
 * PIPELINING group (RFC 2920), turning the replies into one outcome per recipient.
 */
import { type ClientTimeouts, type SmtpClient, SmtpConnectionError } from "./client.ts";
import type { RcptDsn } from "../delivery/types.ts";
import { DotStuffer } from "../message/dot_stuffing.ts";
import { hasLongLine, LongLineScan, wrapLongLines } from "../message/long_lines.ts";
import { encodeXtext } from "../message/xtext.ts";
import { COPY_CHUNK, MessageContent } from "../store/content.ts";
import { Mutex } from "../store/fsutil.ts";
import { advertisedSize, needsUtf8, pathOf, type Reply } from "./reply.ts";

/** What happened to one recipient in one attempt. */
export interface RecipientOutcome {
  rcpt: string;
  /** sent: 250 to the data; temp: retry later; perm: bounce now. */
  kind: "sent" | "temp" | "perm";
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** An SMTP reply line, the server's or one we wrote in its form ("451 4.4.1 ..."). */
  diagnostic: string;
  /** The host that answered, for DSN Remote-MTA; "" when none did. */
  remoteMta: string;
  /** The server announced DSN and got the RFC 3461 parameters (it reports from now on). */
  dsnPassed?: boolean;
}

/** RFC 3461 parameters of a queued message. */
export interface EnvelopeDsn {
  ret?: "FULL" | "HDRS";
  envid?: string;
  /** Per recipient address (as in `recipients`). */
  rcpts?: Record<string, RcptDsn>;
}

export interface Envelope {
  from: string;
  recipients: string[];
  /**
   * The message: in memory, or in pieces (a queued message's file), which is read a
   * chunk at a time as it goes out and never held whole in memory.
   */
  data: Uint8Array | MessageContent;
  /** Whether `data` has a line over 998 octets, when the caller knows (else scanned). */
  longLines?: boolean;
  eightBit: boolean;
  smtpUtf8: boolean;
  dsn?: EnvelopeDsn;
  /**
   * The DKIM-Signature field for the message exactly as it will be sent ("" for none):
   * called after any wrapping of long lines, so the signature covers what goes out. The
   * same content object comes back for the same bytes (a signature may be reused).
   */
  sign?: (data: MessageContent) => Promise<string>;
}

const encoder = new TextEncoder();

/** Content in pieces of at least this size is wrapped one message at a time. */
const LARGE = 1024 * 1024;
/**
 * Wrapping long lines needs the whole message in memory (MIME structure, re-encoding); a
 * large one is rare (lines over 998 octets to a next hop without CHUNKING), so at most
 * one large message is wrapped at a time and memory stays bounded under any queue.
 */
const wrappingLarge = new Mutex();

/** The content as pieces (a byte array becomes one piece). */
export function asContent(data: Uint8Array | MessageContent): MessageContent {
  return data instanceof MessageContent ? data : new MessageContent([data]);
}

/** hasLongLine over content in pieces, in one streamed pass. */
export async function contentHasLongLine(content: MessageContent): Promise<boolean> {
  const scan = new LongLineScan();
  for await (const view of content.views()) {
    scan.push(view);
    if (scan.found) return true;
  }
  return scan.finish();
}

/** ` NOTIFY=... ORCPT=...` for a server that announced DSN (RFC 3461 §4.1, §4.2). */
function rcptParams(dsn: RcptDsn | undefined): string {
  let out = "";
  if (dsn?.notify?.length) out += ` NOTIFY=${dsn.notify.join(",")}`;
  if (dsn?.orcpt) out += ` ORCPT=${dsn.orcpt.type};${encodeXtext(dsn.orcpt.address)}`;
  return out;
}

/** What goes on the wire after DATA/BDAT: the signature field, then the message. */
interface WireData {
  signature: Uint8Array;
  body: MessageContent;
  size: number;
}

/**
 * The message as it goes out: wrapped when it has long lines and the server does not
 * offer CHUNKING, then signed. `release` ends the hold on the wrapping lock (large only).
 */
async function wireData(
  env: Envelope,
  longLines: boolean,
  chunking: boolean,
): Promise<WireData & { release: () => void }> {
  let body = asContent(env.data);
  let release = () => {};
  if (longLines && !chunking) {
    if (body.size >= LARGE) {
      const held = Promise.withResolvers<void>();
      const taken = Promise.withResolvers<void>();
      void wrappingLarge.run(() => {
        taken.resolve();
        return held.promise;
      });
      await taken.promise;
      release = () => held.resolve();
    }
    try {
      const whole = env.data instanceof Uint8Array ? env.data : await body.bytes();
      const wrapped = wrapLongLines(whole);
      if (wrapped !== whole || !(env.data instanceof MessageContent)) {
        body = new MessageContent([wrapped]);
      }
    } catch (e) {
      release();
      throw e;
    }
  }
  let signature: Uint8Array;
  try {
    signature = encoder.encode(env.sign ? await env.sign(body) : "");
  } catch (e) {
    release();
    throw e;
  }
  return { signature, body, size: signature.length + body.size, release };
}

/** Sends the data: a chunk of the file at a time, dot-stuffed for DATA (not for BDAT). */
async function sendData(
  client: SmtpClient,
  wire: WireData,
  stuff: boolean,
  blockMs: number,
): Promise<void> {
  const stuffer = stuff ? new DotStuffer({ bareCr: "line-end" }) : null;
  // One read buffer and one for stuffed output for the whole file, unless the socket
  // still holds part of the last chunk (a write under its high-water mark returns before
  // the kernel took it): then new ones, and the old ones are left to it.
  const busy = () => client.bufferedOutput > 0;
  let stuffed = new Uint8Array(0);
  const into = (size: number) => {
    if (stuffed.length < size || busy()) {
      stuffed = new Uint8Array(Math.max(size, 2 * COPY_CHUNK + 2));
    }
    return stuffed;
  };
  const out = (piece: Uint8Array) => stuffer ? stuffer.push(piece, into) : piece;
  if (wire.signature.length > 0) await client.writeData(out(wire.signature), blockMs);
  for await (const view of wire.body.views(new Uint8Array(COPY_CHUNK), busy)) {
    await client.writeData(out(view), blockMs);
  }
  if (stuffer) await client.writeData(stuffer.end(), blockMs);
}

export interface TransactionResult {
  outcomes: RecipientOutcome[];
  /** MAIL was refused: the caller may try another host when it was transient. */
  mailRefused: Reply | null;
}

function outcome(rcpt: string, reply: Reply, host: string): RecipientOutcome {
  return {
    rcpt,
    kind: reply.positive ? "sent" : reply.transient ? "temp" : "perm",
    status: reply.positive ? "2.0.0" : reply.status,
    diagnostic: reply.toString(),
    remoteMta: host,
  };
}

function local(rcpt: string, kind: "temp" | "perm", line: string, host = ""): RecipientOutcome {
  const m = /^\d{3} (\d\.\d{1,3}\.\d{1,3})/.exec(line);
  return {
    rcpt,
    kind,
    status: m ? m[1] : kind === "temp" ? "4.0.0" : "5.0.0",
    diagnostic: line,
    remoteMta: host,
  };
}

/**
 * One mail transaction over a ready session. Errors before the first RCPT reply are
 * thrown (the caller tries the next host); later ones leave the accepted recipients
 * for a retry (the RFC 5321 §6.1 window: the server may have the message).
 */
export async function transaction(
  client: SmtpClient,
  env: Envelope,
  t: ClientTimeouts,
): Promise<TransactionResult> {
  const ext = client.ext;
  // RFC 3030: BDAT carries lines of any length; only such messages need it.
  const longLines = env.longLines ??
    (env.data instanceof Uint8Array ? hasLongLine(env.data) : await contentHasLongLine(env.data));
  const bdat = ext.has("CHUNKING") && longLines;
  const wire = await wireData(env, longLines, ext.has("CHUNKING"));
  try {
    return await sendTransaction(client, env, wire, bdat, t);
  } finally {
    wire.release();
  }
}

async function sendTransaction(
  client: SmtpClient,
  env: Envelope,
  wire: WireData,
  bdat: boolean,
  t: ClientTimeouts,
): Promise<TransactionResult> {
  const ext = client.ext;
  const all = (kind: "temp" | "perm", line: string) => ({
    outcomes: env.recipients.map((r) => local(r, kind, line, client.host)),
    mailRefused: null,
  });
  const limit = advertisedSize(ext);
  if (limit > 0 && wire.size > limit) {
    return all(
      "perm",
      `552 5.3.4 message size ${wire.size} exceeds the limit of ${client.host} (${limit})`,
    );
  }
  const utf8 = env.smtpUtf8 || needsUtf8(env.from) || env.recipients.some(needsUtf8);
  if (utf8 && !ext.has("SMTPUTF8")) {
    return all("perm", `550 5.6.7 ${client.host} does not support SMTPUTF8 (RFC 6531)`);
  }
  const dsn = ext.has("DSN") ? env.dsn : undefined;
  let params = "";
  if (ext.has("SIZE")) params += ` SIZE=${wire.size}`;
  if (env.eightBit && ext.has("8BITMIME")) params += " BODY=8BITMIME";
  if (utf8) params += " SMTPUTF8";
  if (dsn?.ret) params += ` RET=${dsn.ret}`;
  if (dsn?.envid) params += ` ENVID=${encodeXtext(dsn.envid)}`;
  const mailLine = `MAIL FROM:${pathOf(env.from)}${params}\r\n`;
  const rcptLines = env.recipients.map((r) =>
    `RCPT TO:${pathOf(r)}${ext.has("DSN") ? rcptParams(env.dsn?.rcpts?.[r]) : ""}\r\n`
  );
  client.transactions++;

  const replies = new Map<string, Reply>();
  let mail: Reply;
  let dataInit: Reply | null = null;
  let rcptsRead = false;
  if (ext.has("PIPELINING")) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA go as one group; replies come in order.
    // BDAT waits for the RCPT replies (its data would be sent even with none accepted).
    await client.write(mailLine + rcptLines.join("") + (bdat ? "" : "DATA\r\n"), t.mail);
    mail = await client.readReply(t.mail, "MAIL");
    try {
      for (const r of env.recipients) replies.set(r, await client.readReply(t.rcpt, "RCPT"));
      rcptsRead = true;
      if (!bdat) dataInit = await client.readReply(t.dataInit, "DATA");
    } catch (e) {
      if (!mail.positive) throw e;
      return lostAfterRcpt(env, replies, client, e as Error);
    }
  } else {
    await client.write(mailLine, t.mail);
    mail = await client.readReply(t.mail, "MAIL");
  }
  if (!mail.positive) {
    if (dataInit?.code === 354) await finishEmptyData(client, t);
    await reset(client, t);
    const kind = mail.transient ? "temp" : "perm";
    return {
      outcomes: env.recipients.map((r) => ({ ...outcome(r, mail, client.host), kind })),
      mailRefused: mail,
    };
  }
  try {
    if (!rcptsRead) {
      for (const [i, r] of env.recipients.entries()) {
        await client.write(rcptLines[i], t.rcpt);
        replies.set(r, await client.readReply(t.rcpt, "RCPT"));
      }
    }
    const accepted = env.recipients.filter((r) => replies.get(r)!.positive);
    const refused = env.recipients.filter((r) => !replies.get(r)!.positive)
      .map((r) => outcome(r, replies.get(r)!, client.host));
    if (accepted.length === 0) {
      if (dataInit?.code === 354) await finishEmptyData(client, t);
      await reset(client, t);
      return { outcomes: refused, mailRefused: null };
    }
    let end: Reply;
    if (bdat) {
      // RFC 3030 §2: one chunk, the whole message, no dot-stuffing.
      await client.write(`BDAT ${wire.size} LAST\r\n`, t.dataBlock);
      await sendData(client, wire, false, t.dataBlock);
      end = await client.readReply(t.dataEnd, "end of data");
    } else {
      if (!dataInit) dataInit = await client.command("DATA", t.dataInit, "DATA");
      if (dataInit.code !== 354) {
        await reset(client, t);
        return {
          outcomes: [...refused, ...accepted.map((r) => outcome(r, dataInit!, client.host))],
          mailRefused: null,
        };
      }
      await sendData(client, wire, true, t.dataBlock);
      end = await client.readReply(t.dataEnd, "end of data");
    }
    const passed = ext.has("DSN");
    return {
      outcomes: [
        ...refused,
        ...accepted.map((r) => ({ ...outcome(r, end, client.host), dsnPassed: passed })),
      ],
      mailRefused: null,
    };
  } catch (e) {
    return lostAfterRcpt(env, replies, client, e as Error);
  }
}

function lostAfterRcpt(
  env: Envelope,
  replies: Map<string, Reply>,
  client: SmtpClient,
  e: Error,
): TransactionResult {
  // Any failure here (a spool file that went away while it was sent) leaves the
  // connection in an unknown state: it is not used again.
  client.destroy();
  if (!(e instanceof SmtpConnectionError)) throw e;
  const line = `451 4.4.2 ${e.message}`;
  return {
    outcomes: env.recipients.map((r) => {
      const reply = replies.get(r);
      return reply && !reply.positive
        ? outcome(r, reply, client.host)
        : local(r, "temp", line, client.host);
    }),
    mailRefused: null,
  };
}

/** RFC 2920 §3.1: a 354 with no accepted recipient still needs the end of data. */
async function finishEmptyData(client: SmtpClient, t: ClientTimeouts): Promise<void> {
  await client.write(".\r\n", t.dataBlock);
  await client.readReply(t.dataEnd, "end of data");
}

/** RSET (§4.1.1.5) so the connection can carry another transaction; drop it otherwise. */
async function reset(client: SmtpClient, t: ClientTimeouts): Promise<void> {
  try {
    const r = await client.command("RSET", t.command, "RSET");
    if (r.code !== 250) client.destroy();
  } catch {
    client.destroy();
  }
}

export { local as localOutcome };
