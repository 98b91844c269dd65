/**
 * The PortCluster handshake (SPEC §12), pure: after TLS, both sides prove that they know
 * ClusterSecret without sending it, each over a fresh nonce of the other side, so a
 * recorded exchange cannot be replayed and a peer that only relays cannot answer:
 *
 *   S: 220 <node> extremail-cluster <nonceS>
 *   C: NODE <name> <nonceC> <hmac("client", nonceS, nonceC, name)>
 *   S: 250 <hmac("server", nonceS, nonceC, node)>          (or 535 5.7.8 and close)
 *   C: LMTP | IMAP <tag> <address> <client ip> | POP3 <address> <client ip> | PING
 *      | MOVE-IN <address> | MOVE <address> <node> | DELUSER <address>
 *
 * The lines are SMTP-shaped (code, text) so the outbound SMTP client reads the server's
 * side as replies and LMTP follows on the same connection.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export function newNonce(): string {
  return randomBytes(24).toString("hex");
}

/** HMAC-SHA256 of the fields, hex: the proof one side gives. */
export function proof(
  secret: string,
  side: "client" | "server",
  nonceS: string,
  nonceC: string,
  name: string,
): string {
  return createHmac("sha256", secret).update([side, nonceS, nonceC, name].join("\n")).digest(
    "hex",
  );
}

/** Constant-time comparison of two hex proofs. */
export function proofMatches(expected: string, given: string): boolean {
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function greetingLine(node: string, nonceS: string): string {
  return `220 ${node} extremail-cluster ${nonceS}\r\n`;
}

/** The server's nonce and name from its greeting's text (after "220 "), or null. */
export function parseGreeting(text: string): { node: string; nonce: string } | null {
  const m = /^(\S+) extremail-cluster ([0-9a-f]{48})$/.exec(text.trim());
  return m ? { node: m[1], nonce: m[2] } : null;
}

/** The client's NODE line, or null when the line has another shape. */
export function parseNodeLine(line: string): { name: string; nonce: string; proof: string } | null {
  const m = /^NODE (\S{1,100}) ([0-9a-f]{48}) ([0-9a-f]{64})$/.exec(line.trim());
  return m ? { name: m[1], nonce: m[2], proof: m[3] } : null;
}

/** What the client asks for once both sides are proven. */
export type ClusterRequest =
  | { kind: "lmtp" }
  | { kind: "ping" }
  | { kind: "imap"; tag: string; address: string; clientIp: string }
  | { kind: "pop3"; address: string; clientIp: string }
  /** USER MOVE, the receiving side: the user's messages follow (move.ts). */
  | { kind: "move-in"; address: string }
  /** USER MOVE asked of the node that holds the Maildir. */
  | { kind: "move"; address: string; node: string }
  /** USER DEL (and DOMAIN DEL) of a user homed on the node asked (remote_delete.ts). */
  | { kind: "deluser"; address: string }
  /** USER SHOW: usage of users homed on the node asked; addresses follow (remote_usage.ts). */
  | { kind: "usage" }
  /** The autoresponder's record of a user homed on the node asked (remote_autoreply.ts). */
  | { kind: "autoreply"; address: string; sender: string };

export function parseRequest(line: string): ClusterRequest | null {
  const words = line.trim().split(" ");
  switch (words[0]?.toUpperCase()) {
    case "LMTP":
      return words.length === 1 ? { kind: "lmtp" } : null;
    case "PING":
      return words.length === 1 ? { kind: "ping" } : null;
    case "IMAP":
      return words.length === 4
        ? { kind: "imap", tag: words[1], address: words[2], clientIp: words[3] }
        : null;
    case "POP3":
      return words.length === 3 ? { kind: "pop3", address: words[1], clientIp: words[2] } : null;
    case "MOVE-IN":
      return words.length === 2 ? { kind: "move-in", address: words[1] } : null;
    case "MOVE":
      return words.length === 3 ? { kind: "move", address: words[1], node: words[2] } : null;
    case "DELUSER":
      return words.length === 2 ? { kind: "deluser", address: words[1] } : null;
    case "USAGE":
      return words.length === 1 ? { kind: "usage" } : null;
    case "AUTOREPLY":
      return words.length === 3 ? { kind: "autoreply", address: words[1], sender: words[2] } : null;
    default:
      return null;
  }
}

export function requestLine(r: ClusterRequest): string {
  switch (r.kind) {
    case "lmtp":
      return "LMTP";
    case "ping":
      return "PING";
    case "imap":
      return `IMAP ${r.tag} ${r.address} ${r.clientIp}`;
    case "pop3":
      return `POP3 ${r.address} ${r.clientIp}`;
    case "move-in":
      return `MOVE-IN ${r.address}`;
    case "move":
      return `MOVE ${r.address} ${r.node}`;
    case "deluser":
      return `DELUSER ${r.address}`;
    case "usage":
      return "USAGE";
    case "autoreply":
      return `AUTOREPLY ${r.address} ${r.sender}`;
  }
}
