/**
 * The one builder of Delivery Status Notifications (RFC 3464) in a multipart/report
 * (RFC 6522): a human-readable part, the message/delivery-status part, and the original
 * header (text/rfc822-headers). Internationalized addresses or headers use the RFC 6533
 * types. Used for copies refused after the end of DATA (delivery/route.ts) and for
 * recipients the queue gives up on (queue/bounce.ts); both send it from the null sender
 * (RFC 5321 §4.5.5). Pure: builds bytes from its input.
 */
import { isAscii, replaceControls, toPrintableAscii } from "./controls.ts";
import { formatDate } from "./date.ts";
import { headerFieldBytes } from "./header.ts";
import { crlfLines } from "./line_endings.ts";

export interface DsnRecipient {
  address: string;
  /** RFC 3463 status, e.g. "5.1.1" or "4.4.7". */
  status: string;
  /** The SMTP reply that failed it ("550 5.1.1 no such user"). */
  diagnostic: string;
  /** The host that gave the reply; "" or absent when none did (a local failure). */
  remoteMta?: string;
  /** When the last attempt was made (ms); absent for a single attempt at reception. */
  lastAttempt?: number;
}

export interface DsnInput {
  /** HostName: Reporting-MTA and the From domain. */
  reportingMta: string;
  /** Queue id of the failed message. */
  queueId: string;
  /** The envelope sender of the failed message (the DSN's recipient). */
  sender: string;
  arrivalDate: number;
  recipients: readonly DsnRecipient[];
  /** The failed message, or its header: the header fields are attached. */
  original: Uint8Array;
  now: number;
  /** Unique token (the DSN's own queue id) for the Message-ID and the boundary. */
  token: string;
}

/** DSN dates are written in UTC, whatever the host's zone. */
const UTC = 0;

/** One line: control characters (line breaks of a multi-line reply) made one space. */
function oneLine(text: string): string {
  return replaceControls(text, " ", true).trim();
}

/** A DSN field value: one line of printable ASCII (RFC 3464 §2.1.2), bounded. */
function fieldValue(text: string): string {
  return toPrintableAscii(oneLine(text)).slice(0, 900);
}

export function buildDsn(input: DsnInput): Uint8Array {
  const host = fieldValue(input.reportingMta);
  const queueId = fieldValue(input.queueId);
  const token = fieldValue(input.token);
  const sender = oneLine(input.sender);
  const boundary = `${queueId}.${token}/${host}`;
  const recipients = input.recipients.map((r) => ({ ...r, address: oneLine(r.address) }));
  const intl = recipients.some((r) => !isAscii(r.address)) || !isAscii(sender);
  const headers = crlfLines(headerFieldBytes(input.original));
  const addrType = (a: string) => (isAscii(a) ? "rfc822" : "utf-8");

  const human = [
    `This is the mail system at host ${host}.`,
    "",
    "I'm sorry to have to inform you that your message could not be delivered",
    "to one or more recipients. The reasons are given below; the headers of your",
    "message are attached.",
    "",
    ...recipients.map((r) => `<${r.address}>: ${oneLine(r.diagnostic)}`),
    "",
  ].join("\r\n");

  const perMessage = [
    `Reporting-MTA: dns; ${host}`,
    `X-Queue-ID: ${queueId}`,
    `Arrival-Date: ${formatDate(input.arrivalDate, UTC)}`,
  ];
  const perRecipient = recipients.map((r) => {
    const lines = [
      `Final-Recipient: ${addrType(r.address)}; ${r.address}`,
      "Action: failed",
      `Status: ${fieldValue(r.status)}`,
    ];
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${fieldValue(r.remoteMta)}`);
    if (r.diagnostic) lines.push(`Diagnostic-Code: smtp; ${fieldValue(r.diagnostic)}`);
    if (r.lastAttempt) lines.push(`Last-Attempt-Date: ${formatDate(r.lastAttempt, UTC)}`);
    return lines.join("\r\n");
  });
  const status = [perMessage.join("\r\n"), ...perRecipient].join("\r\n\r\n") + "\r\n";

  const top = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: <${sender}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${formatDate(input.now, UTC)}`,
    `Message-ID: <${queueId}.${token}@${host}>`,
    // RFC 3834 §5: automatic responses must not trigger further ones.
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated message.",
    "",
    `--${boundary}`,
    "Content-Description: Notification",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Transfer-Encoding: ${isAscii(human) ? "7bit" : "8bit"}`,
    "",
    human,
    `--${boundary}`,
    "Content-Description: Delivery report",
    `Content-Type: message/${intl ? "global-delivery-status" : "delivery-status"}`,
    "",
    status,
    `--${boundary}`,
    "Content-Description: Undelivered Message Headers",
    `Content-Type: ${isAscii(headers) ? "text/rfc822-headers" : "message/global-headers"}`,
    "",
    "",
  ].join("\r\n");
  // The header's own last line ending, then the CRLF that belongs to the delimiter
  // (RFC 2046 §5.1.1), so the part's body is the header fields, each ending in CRLF.
  const lastLineEnded = headers.length === 0 || headers[headers.length - 1] === 10;
  const tail = `${lastLineEnded ? "" : "\r\n"}\r\n--${boundary}--\r\n`;
  const enc = new TextEncoder();
  const head = enc.encode(top);
  const end = enc.encode(tail);
  const out = new Uint8Array(head.length + headers.length + end.length);
  out.set(head);
  out.set(headers, head.length);
  out.set(end, head.length + headers.length);
  return out;
}
