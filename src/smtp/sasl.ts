/**
 * SMTP AUTH framing (RFC 4954): the AUTH command line, and the SMTP replies for what the
 * shared SASL decoders (src/sasl/) find wrong with a response.
 */
import { decodeLoginText } from "../sasl/login.ts";
import { decodePlain, type PlainCredentials } from "../sasl/plain.ts";
import { decodeResponse } from "../sasl/response.ts";
import { AUTH_CANCELLED, fail, SmtpError } from "./replies.ts";

export type Mechanism = "PLAIN" | "LOGIN";
export const MECHANISMS: readonly Mechanism[] = ["PLAIN", "LOGIN"];

/** RFC 4954 4: an AUTH line (initial response included) may be 12288 octets. */
export const MAX_AUTH_LINE = 12288;

/** `AUTH <mechanism> [initial-response]` (RFC 4954 4). */
export function parseAuthCommand(arg: string): { mechanism: string; initial: string | null } {
  const m = /^([A-Za-z0-9_-]{1,20})(?:[ \t]+(\S+))?$/.exec(arg);
  if (!m) fail(501, "5.5.4", "Syntax: AUTH <mechanism> [initial-response]");
  return { mechanism: m[1].toUpperCase(), initial: m[2] ?? null };
}

/** One client response: "*" cancels (501 5.7.0), anything but base64 is 501 5.5.2. */
export function responseBytes(text: string): Uint8Array {
  const r = decodeResponse(text);
  if (r.kind === "cancel") throw new SmtpError(AUTH_CANCELLED);
  if (r.kind === "malformed") fail(501, "5.5.2", "Error: cannot decode base64 response");
  return r.bytes;
}

/** A PLAIN response's credentials (RFC 4616 2); a malformed message is 501 5.5.2. */
export function plainCredentials(text: string): PlainCredentials {
  const r = decodePlain(responseBytes(text));
  if (!r.ok) fail(501, "5.5.2", `Error: ${r.reason}`);
  return r.credentials;
}

/** A LOGIN answer (user name or password) as text. */
export function loginText(text: string): string {
  const answer = decodeLoginText(responseBytes(text));
  if (answer === null) fail(501, "5.5.2", "Error: credentials are not valid UTF-8");
  return answer;
}
