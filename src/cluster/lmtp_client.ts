/**
 * Delivery to a user's home node (SPEC §12) over LMTP (RFC 2033) on the outbound SMTP
 * client: MAIL, one RCPT per mailbox (with FOLDER= when the copy goes to another folder
 * than INBOX, our own parameter), then the message as one BDAT LAST chunk (RFC 3030; no
 * dot-stuffing, the message streams from its spool file) and, as LMTP wants, one reply
 * per accepted recipient: each a durable 250 from the home node, or its refusal.
 */
import type { MessageContent } from "../store/content.ts";
import { pathOf, type Reply } from "../smtpclient/reply.ts";
import type { SmtpClient } from "../smtpclient/client.ts";
import { PeerError, type Peers } from "./peers.ts";

export interface HandOff {
  from: string;
  recipients: { address: string; folder?: string }[];
  data: Uint8Array | MessageContent;
}

/** One recipient's outcome: "sent" is in the Maildir on the home node. */
export interface HandOffOutcome {
  address: string;
  kind: "sent" | "temp" | "perm";
  /** The home node's reply, or one of ours in its form ("451 4.3.0 ..."). */
  reply: string;
}

const COMMAND_MS = 30_000;
/** The home node writes and fsyncs before it answers; generous. */
const DATA_END_MS = 120_000;

/** Hands one message to `node`; never throws (a failure is a "temp" outcome for all). */
export async function handOff(peers: Peers, node: string, h: HandOff): Promise<HandOffOutcome[]> {
  const all = (kind: "temp" | "perm", reply: string) =>
    h.recipients.map((r) => ({ address: r.address, kind, reply }));
  let client: SmtpClient;
  try {
    client = await peers.lmtp(node);
  } catch (e) {
    return all("temp", `451 4.3.0 home node ${node} cannot be reached: ${(e as Error).message}`);
  }
  try {
    const outcomes = await transaction(client, h);
    peers.release(node, client);
    return outcomes;
  } catch (e) {
    client.destroy();
    const why = e instanceof PeerError ? e.message : (e as Error).message;
    return all("temp", `451 4.3.0 hand-off to home node ${node} failed: ${why}`);
  }
}

function outcome(address: string, reply: Reply): HandOffOutcome {
  return {
    address,
    kind: reply.positive ? "sent" : reply.transient ? "temp" : "perm",
    reply: reply.toString(),
  };
}

async function transaction(client: SmtpClient, h: HandOff): Promise<HandOffOutcome[]> {
  const size = h.data instanceof Uint8Array ? h.data.length : h.data.size;
  // Every command in one write (RFC 2920 pipelining); replies come in order.
  const lines = [`MAIL FROM:${pathOf(h.from)} SIZE=${size}`];
  for (const r of h.recipients) {
    lines.push(`RCPT TO:${pathOf(r.address)}${r.folder ? ` FOLDER=${r.folder}` : ""}`);
  }
  await client.write(lines.join("\r\n") + "\r\n", COMMAND_MS);
  const mail = await client.readReply(COMMAND_MS, "MAIL");
  const rcpts: Reply[] = [];
  for (const _ of h.recipients) rcpts.push(await client.readReply(COMMAND_MS, "RCPT"));
  if (!mail.positive) {
    await client.command("RSET", COMMAND_MS, "RSET");
    return h.recipients.map((r) => outcome(r.address, mail));
  }
  const accepted = h.recipients.filter((_, i) => rcpts[i].positive);
  const refused = h.recipients.map((r, i) => ({ r, reply: rcpts[i] }))
    .filter((x) => !x.reply.positive).map((x) => outcome(x.r.address, x.reply));
  if (accepted.length === 0) {
    await client.command("RSET", COMMAND_MS, "RSET");
    return refused;
  }
  await client.write(`BDAT ${size} LAST\r\n`, COMMAND_MS);
  if (h.data instanceof Uint8Array) await client.writeData(h.data, COMMAND_MS);
  else for await (const chunk of h.data.chunks()) await client.write(chunk, COMMAND_MS);
  // RFC 2033 §4.2: one reply per recipient that RCPT accepted, in their order.
  const done: HandOffOutcome[] = [];
  for (const r of accepted) {
    done.push(outcome(r.address, await client.readReply(DATA_END_MS, "end of data")));
  }
  return [...refused, ...done];
}
