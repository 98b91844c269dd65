/**
 * Admin replies (SPEC §4): zero or more data lines, then one status line that begins
 * with "+OK" or "-ERR". A data line that would begin with "+" or "-" gets one leading
 * space, so a client can always tell data from status.
 */
import { replaceControls } from "../message/controls.ts";

/** A refusal whose message is safe and specific enough to send as "-ERR <message>". */
export class AdminError extends Error {}

export interface Reply {
  ok: boolean;
  text: string;
  data: string[];
  /** What the session does after sending the reply. */
  after?: "close" | "stop";
}

export function ok(text: string, data: string[] = []): Reply {
  return { ok: true, text, data };
}

export function fail(text: string): Reply {
  return { ok: false, text, data: [] };
}

/** One line of text: control characters (e.g. from a remote server's error) become spaces. */
function oneLine(text: string): string {
  return replaceControls(text, " ", true);
}

/** A data line as sent: one leading space before "+" or "-". */
export function escapeDataLine(line: string): string {
  const clean = oneLine(line);
  return clean.startsWith("+") || clean.startsWith("-") ? " " + clean : clean;
}

/** The reverse of escapeDataLine, for clients. */
export function unescapeDataLine(line: string): string {
  return /^ [+-]/.test(line) ? line.slice(1) : line;
}

export function statusLine(reply: Pick<Reply, "ok" | "text">): string {
  return `${reply.ok ? "+OK" : "-ERR"} ${oneLine(reply.text)}`;
}

/** The reply on the wire, CRLF-terminated. */
export function formatReply(reply: Reply): string {
  let out = "";
  for (const line of reply.data) out += escapeDataLine(line) + "\r\n";
  return out + statusLine(reply) + "\r\n";
}

/** `Key=Value` data line. */
export function kv(key: string, value: string | number): string {
  return `${key}=${value}`;
}
