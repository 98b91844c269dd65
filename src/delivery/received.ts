/**
 * Trace fields (RFC 5321 4.4): the Received header every message gets, and the
 * Return-Path that final delivery adds. Pure functions that return bytes, so the
 * pipeline concatenates them in front of the message without re-encoding it.
 */
import { isIP } from "node:net";
import { replaceControls, toVisibleAscii } from "../message/controls.ts";
import { formatDate } from "../message/date.ts";
import type { SessionInfo } from "./types.ts";

const encoder = new TextEncoder();

/**
 * The "with" protocol (RFC 3848; RFC 6531 3.7.3 for SMTPUTF8): SMTP after HELO,
 * ESMTP after EHLO, +S with TLS, +A after AUTH; UTF8SMTP* when SMTPUTF8 was used.
 */
export function withProtocol(
  info: Pick<SessionInfo, "esmtp" | "tls" | "authUser">,
  smtpUtf8 = false,
): string {
  const suffix = (info.tls ? "S" : "") + (info.authUser ? "A" : "");
  if (smtpUtf8) return "UTF8SMTP" + suffix;
  if (!info.esmtp && !suffix) return "SMTP";
  return "ESMTP" + suffix;
}

/** Keeps client-supplied text from breaking the header: printable ASCII, no parentheses. */
function clean(text: string, max = 255): string {
  return toVisibleAscii(text).replace(/[()\\]/g, "?").slice(0, max);
}

/** RFC 5321 4.1.3 address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]`. */
export function addressLiteral(ip: string): string {
  // Only a text with a colon can be IPv6 (node's isIP runs regexes: one per message here).
  return ip.includes(":") && isIP(ip) === 6 ? `[IPv6:${ip}]` : `[${clean(ip, 64)}]`;
}

export interface ReceivedInput {
  info: Pick<SessionInfo, "helo" | "clientIp" | "esmtp" | "tls" | "authUser">;
  hostName: string;
  queueId: string;
  /** The single envelope recipient, named only when there is exactly one (RFC 5321 7.2). */
  recipient?: string;
  smtpUtf8?: boolean;
  date?: Date;
}

/**
 * RFC 5321 4.4 Time-stamp-line. We do no reverse DNS, so TCP-info is the address
 * literal alone. TLS and the authenticated user are comments (CFWS is allowed
 * before each clause), one per folded line:
 *
 *   Received: from helo ([192.0.2.1])
 *   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
 *   	(authenticated as user@example.com)
 *   	by mail.example.com with ESMTPSA id 0123456789ABCD
 *   	for <rcpt@example.com>; Tue, 01 Jul 2025 10:00:00 +0000
 */
export function receivedHeader(input: ReceivedInput): Uint8Array {
  const { info } = input;
  const helo = clean(info.helo.trim()) || "unknown";
  let text = `Received: from ${helo} (${addressLiteral(info.clientIp)})\r\n`;
  if (info.tls) {
    text += `\t(using ${clean(info.tls.protocol, 32)} with cipher ${
      clean(info.tls.cipher, 128)
    })\r\n`;
  }
  if (info.authUser) {
    text += `\t(authenticated as ${clean(`${info.authUser.name}@${info.authUser.domain}`)})\r\n`;
  }
  text += `\tby ${clean(input.hostName)} with ${withProtocol(info, input.smtpUtf8)} id ${
    clean(input.queueId, 64)
  }`;
  // RFC 5322 3.6.7: the ";" before the date-time is required, with or without "for".
  if (input.recipient !== undefined) text += `\r\n\tfor <${cleanPath(input.recipient)}>; `;
  else text += ";\r\n\t";
  text += `${formatDate(input.date)}\r\n`;
  return encoder.encode(text);
}

/** Envelope addresses keep UTF-8 (SMTPUTF8) but lose controls and angle brackets. */
function cleanPath(address: string): string {
  return replaceControls(address, "").replace(/[ <>]/g, "").slice(0, 512);
}

/** RFC 5321 4.4: the final delivery records the envelope sender. */
export function returnPathHeader(sender: string): Uint8Array {
  return encoder.encode(`Return-Path: <${cleanPath(sender)}>\r\n`);
}
