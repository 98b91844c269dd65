/**
 * The one builder of Delivery Status Notifications (RFC 3464) in a multipart/report
 * (RFC 6522): a human-readable part, the message/delivery-status part, and the original
 * header (text/rfc822-headers) or, for RET=FULL (RFC 3461 §4.3), the whole message.
 * Internationalized addresses, diagnostics or headers use the RFC 6533 types, in which
 * UTF-8 is written as it is. Failures (`failed`), delay notices (`delayed`) and success
 * reports (`delivered`, `relayed`, `expanded`: RFC 3461 NOTIFY=SUCCESS) all come from here:
 * copies refused after the end of DATA (delivery/route.ts), the queue's reports
 * (queue/bounce.ts). All are sent from the null sender (RFC 5321 §4.5.5). Pure.
 *
 * A double bounce (Postfix's "2bounce") is a failure report about a message that was
 * itself from the null sender: it goes to the local postmaster instead, and carries
 * DOUBLE_BOUNCE_FIELD so that, should it fail in turn, it is recognised and dropped
 * (`isDoubleBounce`) rather than reported again.
 */
import { isAscii, replaceControls, toPrintableAscii } from "./controls.ts";
import { formatDate } from "./date.ts";
import { getHeader, headerFieldBytes, parseHeaderBlock } from "./header.ts";
import { crlfLines } from "./line_endings.ts";

export type DsnAction = "failed" | "delayed" | "delivered" | "relayed" | "expanded";

export interface DsnRecipient {
  address: string;
  /** RFC 3464 §2.3.3; "failed" when absent. */
  action?: DsnAction;
  /** RFC 3461 ORCPT as the sender gave it: Original-Recipient (RFC 3464 §2.3.1). */
  originalRecipient?: { type: string; address: string };
  /** For "delayed": until when the server keeps trying (RFC 3464 §2.3.9 Will-Retry-Until). */
  willRetryUntil?: number;
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
  /** RFC 3461 ENVID: Original-Envelope-Id (RFC 3464 §2.2.1). */
  envid?: string;
  /** RFC 3461 RET=FULL: the whole message is returned, not only its header. */
  returnFull?: boolean;
  /**
   * A double bounce: the failed message came from <>, so the report is addressed to this
   * postmaster address (the To: field), worded for the postmaster and marked with
   * DOUBLE_BOUNCE_FIELD.
   */
  doubleBounceTo?: string;
}

/** The header field that marks a double bounce; its value is the failed report's queue id. */
export const DOUBLE_BOUNCE_FIELD = "X-Double-Bounce";

/** Is this message (its header is enough) a double bounce of ours? */
export function isDoubleBounce(message: Uint8Array): boolean {
  return getHeader(parseHeaderBlock(message), DOUBLE_BOUNCE_FIELD) !== undefined;
}

/** DSN dates are written in UTC, whatever the host's zone. */
const UTC = 0;

/** One line: control characters (line breaks of a multi-line reply) made one space. */
function oneLine(text: string): string {
  return replaceControls(text, " ", true).trim();
}

/**
 * A DSN field value: one line, bounded; printable ASCII in message/delivery-status
 * (RFC 3464 §2.1.2), UTF-8 kept in message/global-delivery-status (RFC 6533 §3).
 */
function fieldValue(text: string, utf8 = false): string {
  const line = oneLine(text);
  return (utf8 ? line : toPrintableAscii(line)).slice(0, 900);
}

const WORDING: Record<DsnAction | "doubleBounce", { subject: string; intro: string[] }> = {
  failed: {
    subject: "Undelivered Mail Returned to Sender",
    intro: [
      "I'm sorry to have to inform you that your message could not be delivered",
      "to one or more recipients. The reasons are given below; your message (or its",
      "header) is attached.",
    ],
  },
  delayed: {
    subject: "Delayed Mail (still being retried)",
    intro: [
      "This is a warning only: your message has not been delivered yet to the",
      "recipients below. The server keeps trying; you do not need to send it again.",
    ],
  },
  delivered: {
    subject: "Successful Mail Delivery Report",
    intro: ["Your message was delivered to the recipients below, as you asked."],
  },
  relayed: {
    subject: "Successful Mail Delivery Report",
    intro: [
      "Your message was handed to the next mail server for the recipients below, as you",
      "asked. That server does not send delivery reports, so this is the last one.",
    ],
  },
  expanded: {
    subject: "Successful Mail Delivery Report",
    intro: [
      "Your message reached the recipients below, which forward it to several addresses",
      "or a mailing list; no further reports come from there.",
    ],
  },
  doubleBounce: {
    subject: "Postmaster Copy: Undelivered Mail",
    intro: [
      "A message from the null sender <> (usually a delivery report) could not be",
      "delivered to the recipients below. Such a message is never returned to a sender,",
      "so it comes to you, the postmaster; it is attached. Should this notice fail in",
      "turn, it is dropped.",
    ],
  },
};

export function buildDsn(input: DsnInput): Uint8Array {
  const host = fieldValue(input.reportingMta);
  const queueId = fieldValue(input.queueId);
  const token = fieldValue(input.token);
  const sender = oneLine(input.sender);
  const boundary = `${queueId}.${token}/${host}`;
  const recipients = input.recipients.map((r) => ({ ...r, address: oneLine(r.address) }));
  // RFC 6533: any UTF-8 in the report makes it message/global-delivery-status.
  const doubleBounceTo = input.doubleBounceTo === undefined
    ? undefined
    : oneLine(input.doubleBounceTo);
  const intl = !isAscii(sender) || !isAscii(doubleBounceTo ?? "") ||
    recipients.some((r) =>
      !isAscii(r.address) || !isAscii(r.diagnostic) || !isAscii(r.remoteMta ?? "") ||
      !isAscii(r.originalRecipient?.address ?? "")
    ) || !isAscii(input.envid ?? "");
  const value = (text: string) => fieldValue(text, intl);
  const original = crlfLines(input.returnFull ? input.original : headerFieldBytes(input.original));
  const addrType = (a: string) => (isAscii(a) ? "rfc822" : "utf-8");
  const action = recipients[0]?.action ?? "failed";
  const wording = WORDING[doubleBounceTo === undefined ? action : "doubleBounce"];

  const human = [
    `This is the mail system at host ${host}.`,
    "",
    ...wording.intro,
    "",
    ...recipients.map((r) => `<${r.address}>: ${oneLine(r.diagnostic)}`),
    "",
  ].join("\r\n");

  const perMessage = [
    `Reporting-MTA: dns; ${host}`,
    ...(input.envid ? [`Original-Envelope-Id: ${value(input.envid)}`] : []),
    `X-Queue-ID: ${queueId}`,
    `Arrival-Date: ${formatDate(input.arrivalDate, UTC)}`,
  ];
  const perRecipient = recipients.map((r) => {
    const lines: string[] = [];
    if (r.originalRecipient) {
      const o = r.originalRecipient;
      lines.push(`Original-Recipient: ${value(o.type)};${value(o.address)}`);
    }
    lines.push(
      `Final-Recipient: ${addrType(r.address)}; ${value(r.address)}`,
      `Action: ${r.action ?? "failed"}`,
      `Status: ${fieldValue(r.status)}`,
    );
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${value(r.remoteMta)}`);
    if (r.diagnostic) lines.push(`Diagnostic-Code: smtp; ${value(r.diagnostic)}`);
    if (r.lastAttempt) lines.push(`Last-Attempt-Date: ${formatDate(r.lastAttempt, UTC)}`);
    if (r.willRetryUntil) lines.push(`Will-Retry-Until: ${formatDate(r.willRetryUntil, UTC)}`);
    return lines.join("\r\n");
  });
  const status = [perMessage.join("\r\n"), ...perRecipient].join("\r\n\r\n") + "\r\n";

  const top = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: <${doubleBounceTo ?? sender}>`,
    `Subject: ${wording.subject}`,
    `Date: ${formatDate(input.now, UTC)}`,
    `Message-ID: <${queueId}.${token}@${host}>`,
    // RFC 3834 §5: automatic responses must not trigger further ones.
    "Auto-Submitted: auto-replied",
    ...(doubleBounceTo === undefined ? [] : [`${DOUBLE_BOUNCE_FIELD}: ${queueId}`]),
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
    ...(input.returnFull
      ? [
        "Content-Description: Undelivered Message",
        `Content-Type: ${
          isAscii(headerFieldBytes(original)) ? "message/rfc822" : "message/global"
        }`,
        ...(isAscii(original) ? [] : ["Content-Transfer-Encoding: 8bit"]),
      ]
      : [
        "Content-Description: Undelivered Message Headers",
        `Content-Type: ${isAscii(original) ? "text/rfc822-headers" : "message/global-headers"}`,
      ]),
    "",
    "",
  ].join("\r\n");
  // The header's own last line ending, then the CRLF that belongs to the delimiter
  // (RFC 2046 §5.1.1), so the part's body is the header fields, each ending in CRLF.
  const headers = original;
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
