/**
 * SMTP replies with their RFC 3463 enhanced status codes, and the error type that
 * carries one from where a rule is broken to the reply (ENHANCEDSTATUSCODES, RFC 2034:
 * every reply after the greeting carries an enhanced code).
 */
import { SmtpReply } from "../delivery/types.ts";

export { SmtpReply };

/** A client-facing failure: thrown by parsers and handlers, turned into its reply. */
export class SmtpError extends Error {
  constructor(
    readonly reply: SmtpReply,
    /** Counts toward the per-session error limit (protocol misuse, not policy refusals). */
    readonly protocolError = true,
  ) {
    super(reply.toString().trimEnd());
    this.name = "SmtpError";
  }
}

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  return new SmtpReply(code, enhanced, text);
}

/** Throws a protocol error (counted toward the session's error limit). */
export function fail(code: number, enhanced: string, text: string): never {
  throw new SmtpError(new SmtpReply(code, enhanced, text));
}

/** Throws a refusal that is not the client's protocol mistake (policy, limits). */
export function refuse(code: number, enhanced: string, text: string): never {
  throw new SmtpError(new SmtpReply(code, enhanced, text), false);
}

export const OK = reply(250, "2.0.0", "Ok");
export const SENDER_OK = reply(250, "2.1.0", "Ok");
// RFC 5321 4.1.4: out-of-sequence commands get 503 (RFC 3463 5.5.1 invalid command).
export const NEED_HELO = reply(503, "5.5.1", "Error: send HELO/EHLO first");
export const NEED_MAIL = reply(503, "5.5.1", "Error: need MAIL command");
export const NESTED_MAIL = reply(503, "5.5.1", "Error: nested MAIL command");
export const NO_RECIPIENTS = reply(554, "5.5.1", "Error: no valid recipients");
export const UNKNOWN_COMMAND = reply(500, "5.5.1", "Error: command not recognized");
// RFC 5321 4.5.3.1.4 / 4.5.3.1.10: "500 Line too long".
export const LINE_TOO_LONG = reply(500, "5.5.2", "Error: line too long");
// RFC 5321 2.3.8: lines end in CRLF only; see docs/rfc-status.md "SMTP".
export const BARE_LF_COMMAND = reply(
  500,
  "5.5.2",
  "Error: bare LF or CR in command not allowed (RFC 5321 2.3.8)",
);
export const BARE_NEWLINE_DATA = reply(
  550,
  "5.6.0",
  "bare LF/CR not allowed (RFC 5321 2.3.8)",
);
// RFC 1870 6.1 / RFC 3463 5.3.4: message too big for system.
export const TOO_LARGE = reply(
  552,
  "5.3.4",
  "Error: message size exceeds fixed maximum message size",
);
// RFC 5321 4.5.3.1.10.
export const TOO_MANY_RECIPIENTS = reply(452, "4.5.3", "Error: too many recipients");
// RFC 4954 6.
export const AUTH_REQUIRED = reply(530, "5.7.0", "Authentication required");
export const AUTH_OK = reply(235, "2.7.0", "Authentication successful");
export const AUTH_FAILED = reply(535, "5.7.8", "Error: authentication credentials invalid");
// SPEC §7: too many failed logins from this source (or at this account): no password check.
export const AUTH_THROTTLED = reply(
  454,
  "4.7.0",
  "Temporary authentication failure: too many failed logins, try again later",
);
export const AUTH_CANCELLED = reply(501, "5.7.0", "Authentication aborted");
export const AUTH_ENCRYPTION_REQUIRED = reply(
  538,
  "5.7.11",
  "Encryption required for requested authentication mechanism",
);
export const INTERNAL_ERROR = reply(451, "4.3.0", "Error: internal error, try again later");
