/**
 * The replies the pipeline gives, each with its RFC 3463 enhanced status code, in
 * one place so tests and docs can name them.
 */
import { replaceControls } from "../message/controls.ts";
import { SmtpReply } from "./types.ts";

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  return new SmtpReply(code, enhanced, text);
}

/** Keeps client-supplied text printable and short inside a reply line. */
export function safe(text: string): string {
  return replaceControls(text, "?").slice(0, 256);
}

// RFC 3463 5.7.1: delivery not authorized, message refused.
export const connectDenied = () => reply(554, "5.7.1", "Access denied: your network is refused");
export const senderDenied = (a: string) =>
  reply(550, "5.7.1", `<${safe(a)}>: Sender address rejected: Access denied`);
export const recipientDenied = (a: string) =>
  reply(550, "5.7.1", `<${safe(a)}>: Recipient address rejected: Access denied`);
export const membersOnly = (a: string) =>
  reply(550, "5.7.1", `<${safe(a)}>: Recipient address rejected: only list members may post`);
// SPEC §5 "No open relay"; RFC 5321 3.6.2 / RFC 3463 5.7.1.
export const relayDenied = (a: string) => reply(554, "5.7.1", `<${safe(a)}>: Relay access denied`);
// RFC 4954 6 / RFC 8314 submission: AUTH first.
export const authRequired = () => reply(530, "5.7.0", "Authentication required");
// RFC 3463 5.1.7 bad sender's mailbox address syntax; 5.1.3 bad destination syntax.
export const badSender = (a: string) =>
  reply(553, "5.1.7", `<${safe(a)}>: Sender address rejected: malformed address`);
export const badRecipient = (a: string) =>
  reply(553, "5.1.3", `<${safe(a)}>: Recipient address rejected: malformed address`);
// RFC 6531 3.7.4.1: non-ASCII addresses without SMTPUTF8.
export const needUtf8 = (a: string) =>
  reply(553, "5.6.7", `<${safe(a)}>: non-ASCII address needs the SMTPUTF8 parameter`);
// RFC 3463 5.1.1 bad destination mailbox address.
export const unknownUser = (a: string) =>
  reply(550, "5.1.1", `<${safe(a)}>: Recipient address rejected: User unknown`);
// RFC 3463 5.4.6 routing loop detected.
export const aliasLoop = (a: string) =>
  reply(550, "5.4.6", `<${safe(a)}>: Recipient address rejected: alias loop detected`);
export const tooManyHops = (n: number) =>
  reply(554, "5.4.6", `Too many hops (${n} Received headers): mail loop detected`);
// RFC 1870 / RFC 3463 5.3.4 message too big for system; 5.2.2 mailbox full.
export const tooBig = () => reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
// The header is kept in memory for policy checks (src/delivery/incoming.ts HEADER_LIMIT).
export const headerTooLarge = () =>
  reply(552, "5.3.4", "Message header exceeds the maximum header size (256 KiB)");
export const tooBigForSender = () =>
  reply(552, "5.3.4", "Message size exceeds the sender's maximum outgoing message size (MAXOUT)");
export const tooBigForRecipient = (a: string) =>
  reply(
    552,
    "5.3.4",
    `<${safe(a)}>: Message size exceeds the recipient's maximum incoming size (MAXIN)`,
  );
export const overQuota = (a: string) =>
  reply(552, "5.2.2", `<${safe(a)}>: Mailbox full: quota exceeded`);
/** SPEC §12: the recipient's home node cannot be reached now. */
export const homeUnreachable = (a: string, node: string) =>
  reply(451, "4.3.0", `<${safe(a)}>: mailbox server ${node} unreachable, try again later`);
// RFC 3463 4.3.0: other or undefined mail system status (temporary).
export const localError = () => reply(451, "4.3.0", "Local error in processing, try again later");
export const recipientOk = (a: string) => reply(250, "2.1.5", `<${safe(a)}>: Recipient ok`);
export const duplicateRecipient = (a: string) =>
  reply(250, "2.1.5", `<${safe(a)}>: Recipient ok (duplicate, one copy will be delivered)`);
export const queuedAs = (id: string) => reply(250, "2.0.0", `Ok: queued as ${id}`);
