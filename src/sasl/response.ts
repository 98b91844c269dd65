/**
 * One client response in a SASL exchange, as the three protocols frame it: a line of
 * base64 (RFC 4422 §3), "*" to cancel (RFC 4954 §4, RFC 5034 §4, RFC 3501 §6.2.2) and "="
 * for an empty initial response (RFC 4954 §4, RFC 5034 §4, RFC 4959 §3). Pure: the caller
 * turns each kind into its protocol's reply.
 */
import { decodeBase64Strict } from "./base64.ts";

export type SaslResponse =
  /** The client gave up the exchange. */
  | { kind: "cancel" }
  /** The decoded response (empty for "="). */
  | { kind: "data"; bytes: Uint8Array }
  /** Not canonical base64: SMTP 501 5.5.2, POP3 -ERR, IMAP BAD. */
  | { kind: "malformed" };

/** Decodes one response line; surrounding blanks, which some clients add, are ignored. */
export function decodeResponse(line: string): SaslResponse {
  const text = line.trim();
  if (text === "*") return { kind: "cancel" };
  if (text === "=") return { kind: "data", bytes: new Uint8Array(0) };
  const bytes = decodeBase64Strict(text);
  return bytes ? { kind: "data", bytes } : { kind: "malformed" };
}
