/**
 * The autoresponder (SPEC §5, RFC 3834): when to answer, and the answer itself.
 * Pure functions; the "already answered" records live in autoreply_store.ts.
 */
import {
  decodeEncodedWords,
  encodeUnstructured,
  getHeader,
  getHeaders,
  type HeaderBlock,
} from "./headers.ts";
import { formatDate } from "./received.ts";

/** SPEC §5: at most one answer per sender per 7 days. */
export const AUTOREPLY_PERIOD_MS = 7 * 24 * 3600 * 1000;

/**
 * Local parts that are never persons (RFC 3834 2 and 5.1 discourage answering
 * automated senders; these are the names MTAs and list managers use).
 */
const AUTOMATED_SENDER =
  /^(mailer-daemon|postmaster|listserv|majordomo|.*-request|owner-.*|.*-bounces?(\+.*)?|.*-owner|no-?reply)$/i;

/**
 * Why no answer may be sent, or null when it may (RFC 3834 2). `sender` is the
 * envelope sender (the reply goes to it, RFC 3834 3.1.1).
 */
export function autoReplyRefusal(
  headers: HeaderBlock,
  sender: string,
  userAddress: string,
): string | null {
  if (sender === "") return "null sender";
  if (sender.toLowerCase() === userAddress.toLowerCase()) return "sender is the user";
  const local = sender.slice(0, sender.lastIndexOf("@"));
  if (AUTOMATED_SENDER.test(local)) return "automated sender address";
  // RFC 3834 2: Auto-Submitted with any value other than "no".
  const auto = getHeader(headers, "auto-submitted");
  if (auto !== undefined && stripComments(auto).toLowerCase() !== "no") {
    return "Auto-Submitted message";
  }
  // RFC 3834 2: mail from lists (RFC 2369/2919 List-* fields).
  if (headers.fields.some((f) => f.key.startsWith("list-"))) return "mailing list message";
  // Precedence (non-standard but universal): bulk, list, junk.
  for (const p of getHeaders(headers, "precedence")) {
    if (/^(bulk|list|junk)$/i.test(stripComments(p))) return `Precedence: ${p}`;
  }
  // Microsoft's opt-out, honoured by most responders.
  const suppress = getHeader(headers, "x-auto-response-suppress");
  if (suppress && /\b(all|oof|autoreply)\b/i.test(suppress)) return "X-Auto-Response-Suppress";
  return null;
}

function stripComments(value: string): string {
  return value.replace(/\([^)]*\)/g, "").trim();
}

export interface AutoReplyInput {
  /** The user's address (From of the answer). */
  from: string;
  /** The envelope sender of the original (To of the answer). */
  to: string;
  /** AUTOREPLYSUBJECT; "" for the default `Auto: <original subject>`. */
  subject: string;
  text: string;
  original: HeaderBlock;
  hostName: string;
  date?: Date;
  messageId?: string;
}

/** The subject of the answer (SPEC §5): AUTOREPLYSUBJECT exactly, else `Auto: ` + original. */
export function autoReplySubject(configured: string, original: HeaderBlock): string {
  if (configured !== "") return configured;
  return "Auto: " + decodeEncodedWords(getHeader(original, "subject") ?? "");
}

/** RFC 5322 3.6.4 msg-id tokens of a field value, `<...>` included. */
function msgIds(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<[^<>\s]+>/g)].map((m) => m[0]) : [];
}

export function newMessageId(hostName: string): string {
  return `<${Date.now().toString(36)}.${crypto.randomUUID()}@${hostName}>`;
}

/**
 * The answer as CRLF bytes (RFC 3834 3): From the user, To the sender,
 * Auto-Submitted: auto-replied, In-Reply-To/References to the original.
 */
export function buildAutoReply(input: AutoReplyInput): Uint8Array {
  const subject = autoReplySubject(input.subject, input.original);
  const lines = [
    `From: <${input.from}>`,
    `To: <${input.to}>`,
    `Subject: ${encodeUnstructured(subject.replace(/[\r\n]+/g, " "))}`,
    `Date: ${formatDate(input.date)}`,
    `Message-ID: ${input.messageId ?? newMessageId(input.hostName)}`,
  ];
  const original = msgIds(getHeader(input.original, "message-id"))[0];
  if (original) {
    // RFC 3834 3.1.5 (and RFC 5322 3.6.4): References carries the thread.
    const refs = msgIds(getHeader(input.original, "references"));
    if (refs.length === 0) {
      refs.push(...msgIds(getHeader(input.original, "in-reply-to")).slice(0, 1));
    }
    refs.push(original);
    lines.push(`In-Reply-To: ${original}`, `References: ${refs.slice(-20).join("\r\n ")}`);
  }
  lines.push("Auto-Submitted: auto-replied", "MIME-Version: 1.0");
  const body = input.text.replace(/\r\n|\r|\n/g, "\n").split("\n");
  // deno-lint-ignore no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(input.text) && body.every((l) => l.length <= 998);
  if (ascii) {
    lines.push("Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit");
    return encodeText(lines.join("\r\n") + "\r\n\r\n" + body.join("\r\n") + "\r\n");
  }
  // Non-ASCII text: base64, so it survives any next hop (no 8BITMIME needed).
  const b64 = base64(new TextEncoder().encode(body.join("\r\n") + "\r\n"));
  lines.push("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64");
  return encodeText(lines.join("\r\n") + "\r\n\r\n" + b64.replace(/.{1,76}/g, "$&\r\n"));
}

function encodeText(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}
