/**
 * The autoresponder (SPEC §5, RFC 3834): when to answer, and the answer itself.
 * Pure functions; the "already answered" records live in autoreply_store.ts. The
 * checks read headers an unauthenticated sender wrote, so each is one pass over them.
 */
import { isAscii, isAsciiDigit, isAsciiLetter, replaceControls } from "../message/controls.ts";
import { formatDate } from "../message/date.ts";
import { decodeEncodedWords, encodeUnstructured } from "../message/encoded_words.ts";
import { foldField, stripComments } from "../message/fold.ts";
import { getHeader, getHeaders, type HeaderBlock } from "../message/header.ts";
import { messageIds, newMessageId } from "../message/message_id.ts";
import { encodeBase64Lines } from "../message/transfer_encoding.ts";

/** SPEC §5: at most one answer per sender per 7 days. */
export const AUTOREPLY_PERIOD_MS = 7 * 24 * 3600 * 1000;

/**
 * Local parts that are never persons (RFC 3834 2 and 5.1 discourage answering
 * automated senders; these are the names MTAs and list managers use).
 */
const AUTOMATED_NAMES = new Set([
  "mailer-daemon",
  "postmaster",
  "listserv",
  "majordomo",
  "noreply",
  "no-reply",
]);

/** `*-request`, `owner-*`, `*-owner`, `*-bounce[s][+tag]` or one of AUTOMATED_NAMES. */
function isAutomatedSender(localPart: string): boolean {
  const local = localPart.toLowerCase();
  if (AUTOMATED_NAMES.has(local)) return true;
  if (local.endsWith("-request") || local.endsWith("-owner")) return true;
  if (local.startsWith("owner-")) return true;
  for (let at = local.indexOf("-bounce"); at >= 0; at = local.indexOf("-bounce", at + 1)) {
    let end = at + "-bounce".length;
    if (local[end] === "s") end++;
    if (end === local.length || local[end] === "+") return true;
  }
  return false;
}

/** Words of a value, split at anything but letters, digits and "_" (regex \b words). */
function words(value: string): string[] {
  const out: string[] = [];
  let word = "";
  for (let i = 0; i <= value.length; i++) {
    const c = i < value.length ? value.charCodeAt(i) : 0;
    if (isAsciiLetter(c) || isAsciiDigit(c) || c === 95) word += value[i];
    else if (word !== "") {
      out.push(word.toLowerCase());
      word = "";
    }
  }
  return out;
}

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
  if (isAutomatedSender(local)) return "automated sender address";
  // RFC 3834 2: Auto-Submitted with any value other than "no".
  const auto = getHeader(headers, "auto-submitted");
  if (auto !== undefined && stripComments(auto).trim().toLowerCase() !== "no") {
    return "Auto-Submitted message";
  }
  // RFC 3834 2: mail from lists (RFC 2369/2919 List-* fields).
  if (headers.fields.some((f) => f.name.startsWith("list-"))) return "mailing list message";
  // Precedence (non-standard but universal): bulk, list, junk.
  for (const p of getHeaders(headers, "precedence")) {
    const value = stripComments(p).trim().toLowerCase();
    if (value === "bulk" || value === "list" || value === "junk") return `Precedence: ${p}`;
  }
  // Microsoft's opt-out, honoured by most responders.
  const suppress = getHeader(headers, "x-auto-response-suppress");
  if (suppress && words(suppress).some((w) => w === "all" || w === "oof" || w === "autoreply")) {
    return "X-Auto-Response-Suppress";
  }
  return null;
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

/**
 * The answer as CRLF bytes (RFC 3834 3): From the user, To the sender,
 * Auto-Submitted: auto-replied, In-Reply-To/References to the original.
 */
export function buildAutoReply(input: AutoReplyInput): Uint8Array {
  const subject = autoReplySubject(input.subject, input.original);
  const lines = [
    `From: <${input.from}>`,
    `To: <${input.to}>`,
    foldField("Subject", encodeUnstructured(replaceControls(subject, " ", true))),
    `Date: ${formatDate(input.date)}`,
    `Message-ID: ${input.messageId ?? newMessageId(input.hostName)}`,
  ];
  const original = messageIds(getHeader(input.original, "message-id"))[0];
  if (original) {
    // RFC 3834 3.1.5 (and RFC 5322 3.6.4): References carries the thread.
    const refs = messageIds(getHeader(input.original, "references"));
    if (refs.length === 0) {
      refs.push(...messageIds(getHeader(input.original, "in-reply-to")).slice(0, 1));
    }
    refs.push(original);
    lines.push(`In-Reply-To: ${original}`, foldField("References", refs.slice(-20).join(" ")));
  }
  lines.push("Auto-Submitted: auto-replied", "MIME-Version: 1.0");
  const body = input.text.replace(/\r\n|\r|\n/g, "\n").split("\n");
  const ascii = isAscii(input.text) && body.every((l) => l.length <= 998);
  if (ascii) {
    lines.push("Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit");
    return encodeText(lines.join("\r\n") + "\r\n\r\n" + body.join("\r\n") + "\r\n");
  }
  // Non-ASCII text: base64, so it survives any next hop (no 8BITMIME needed).
  const b64 = encodeBase64Lines(new TextEncoder().encode(body.join("\r\n") + "\r\n"));
  lines.push("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64");
  return encodeText(lines.join("\r\n") + "\r\n\r\n" + b64);
}

function encodeText(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
