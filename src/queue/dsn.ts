/**
 * Delivery Status Notifications (RFC 3464) in a multipart/report (RFC 6522): a human
 * readable part, the message/delivery-status part, and the original headers
 * (text/rfc822-headers). Internationalized addresses or headers use the RFC 6533 types.
 * Pure: builds bytes from its input.
 */

export interface DsnRecipient {
  address: string;
  /** RFC 3463 status, e.g. "5.1.1" or "4.4.7". */
  status: string;
  /** An SMTP reply line ("550 5.1.1 no such user"). */
  diagnostic: string;
  /** The host that gave the reply; "" when none did. */
  remoteMta: string;
  /** When the last attempt was made (ms). */
  lastAttempt?: number;
}

export interface DsnInput {
  /** HostName: Reporting-MTA and the From domain. */
  reportingMta: string;
  queueId: string;
  /** The envelope sender of the failed message (the DSN's recipient). */
  sender: string;
  arrivalDate: number;
  recipients: DsnRecipient[];
  /** The failed message (its header block is attached). */
  original: Uint8Array;
  now: number;
  /** Unique token for the Message-ID and boundary. */
  token: string;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC: "Tue, 1 Jul 2025 10:52:37 +0000". */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${
    MONTHS[d.getUTCMonth()]
  } ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** The header block of a message, through its last header line (CRLF-terminated). */
export function headerBlock(data: Uint8Array): Uint8Array {
  for (let i = 0; i + 1 < data.length; i++) {
    if (data[i] !== 10) continue;
    // A line that is empty (LF LF or LF CR LF) ends the header block.
    if (data[i + 1] === 10) return data.subarray(0, i + 1);
    if (data[i + 1] === 13 && data[i + 2] === 10) return data.subarray(0, i + 1);
  }
  return data;
}

function isAscii(bytes: Uint8Array | string): boolean {
  if (typeof bytes === "string") {
    for (let i = 0; i < bytes.length; i++) if (bytes.charCodeAt(i) > 0x7f) return false;
    return true;
  }
  return bytes.every((b) => b < 0x80);
}

/** A header field value: one line, printable ASCII (RFC 3464 §2.1.2 fields are ASCII). */
function fieldValue(text: string): string {
  return text.replace(/[\r\n\t]+/g, " ").replace(/[^\x20-\x7e]/g, "?").slice(0, 900);
}

function crlf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}

export function buildDsn(input: DsnInput): Uint8Array {
  const host = input.reportingMta;
  const boundary = `${input.queueId}.${input.token}/${host}`;
  const intl = input.recipients.some((r) => !isAscii(r.address)) || !isAscii(input.sender);
  const headers = headerBlock(input.original);
  const addrType = (a: string) => (isAscii(a) ? "rfc822" : "utf-8");

  const human = [
    `This is the mail system at host ${host}.`,
    "",
    "I'm sorry to have to inform you that your message could not be delivered",
    "to one or more recipients. The reasons are given below; the headers of your",
    "message are attached.",
    "",
    ...input.recipients.map((r) => `<${r.address}>: ${r.diagnostic.replace(/[\r\n]+/g, " ")}`),
    "",
  ].join("\n");

  const perMessage = [
    `Reporting-MTA: dns; ${host}`,
    `X-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
  ];
  const perRecipient = input.recipients.map((r) => {
    const lines = [
      `Final-Recipient: ${addrType(r.address)}; ${r.address}`,
      "Action: failed",
      `Status: ${r.status}`,
    ];
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${fieldValue(r.remoteMta)}`);
    if (r.diagnostic) lines.push(`Diagnostic-Code: smtp; ${fieldValue(r.diagnostic)}`);
    if (r.lastAttempt) lines.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    return lines.join("\n");
  });
  const status = [perMessage.join("\n"), ...perRecipient].join("\n\n") + "\n";

  const top = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: <${input.sender}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.queueId}.${input.token}@${host}>`,
    // RFC 3834 §5: automatic responses must not trigger further ones.
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="${boundary}"`,
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
  ].join("\n");
  const tail = `\r\n--${boundary}--\r\n`;
  const enc = new TextEncoder();
  const head = enc.encode(crlf(top));
  const body = normalizeCrlf(headers);
  const out = new Uint8Array(head.length + body.length + tail.length);
  out.set(head);
  out.set(body, head.length);
  out.set(enc.encode(tail), head.length + body.length);
  return out;
}

/** Header bytes with every line ending as CRLF, and no trailing line break. */
function normalizeCrlf(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 13 && bytes[i + 1] === 10) continue;
    if (b === 10 || b === 13) out.push(13, 10);
    else out.push(b);
  }
  while (out.length >= 2 && out[out.length - 2] === 13 && out[out.length - 1] === 10) {
    out.length -= 2;
  }
  return new Uint8Array(out);
}
