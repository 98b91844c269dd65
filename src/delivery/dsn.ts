/**
 * Delivery status notifications (RFC 3464, RFC 6522 multipart/report) for
 * recipients that failed after the message was accepted (a quota reached between
 * RCPT and the end of DATA, a user deleted meanwhile). Pure: returns the bytes; the
 * pipeline sends them with the null envelope sender (RFC 5321 4.5.5).
 */
import { formatDate } from "./received.ts";
import { newMessageId } from "./autoreply.ts";
import type { SmtpReply } from "./types.ts";

export interface FailedRecipient {
  address: string;
  reply: SmtpReply;
}

export interface DsnInput {
  hostName: string;
  /** The original envelope sender: the DSN's To. */
  to: string;
  queueId: string;
  failed: readonly FailedRecipient[];
  /** The original header block (returned as text/rfc822-headers, RFC 6522 3). */
  originalHeaders: Uint8Array;
  arrival: Date;
  date?: Date;
  boundary?: string;
}

const encoder = new TextEncoder();

/** Keeps a diagnostic on one printable line. */
function oneLine(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, " ").trim();
}

export function buildDsn(input: DsnInput): Uint8Array {
  const boundary = input.boundary ?? `=_${crypto.randomUUID()}`;
  const host = oneLine(input.hostName);
  const human = [
    `This is the mail system at host ${host}.`,
    "",
    "Your message could not be delivered to the recipients below.",
    "",
    ...input.failed.map((f) => `<${oneLine(f.address)}>: ${oneLine(f.reply.toString())}`),
  ];
  const perMessage = [
    `Reporting-MTA: dns; ${host}`,
    `X-Queue-ID: ${oneLine(input.queueId)}`,
    `Arrival-Date: ${formatDate(input.arrival)}`,
  ];
  const perRecipient = input.failed.map((f) =>
    [
      `Final-Recipient: rfc822; ${oneLine(f.address)}`,
      "Action: failed",
      `Status: ${f.reply.enhanced || "5.0.0"}`,
      `Diagnostic-Code: smtp; ${oneLine(f.reply.toString())}`,
    ].join("\r\n")
  );
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: <${oneLine(input.to)}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${formatDate(input.date)}`,
    `Message-ID: ${newMessageId(host)}`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated message.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "",
    ...human,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "",
    perMessage.join("\r\n"),
    "",
    perRecipient.join("\r\n\r\n"),
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    "",
    "",
  ].join("\r\n");
  let headers = input.originalHeaders;
  if (headers.length > 0 && headers[headers.length - 1] !== 10) {
    headers = new Uint8Array([...headers, 13, 10]);
  }
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + headers.length + tail.length);
  out.set(headBytes, 0);
  out.set(headers, headBytes.length);
  out.set(tail, headBytes.length + headers.length);
  return out;
}
