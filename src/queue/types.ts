/**
 * The contract between the mail services and the outbound queue (issue: outbound
 * delivery). SMTP hands a message to `enqueue` for its non-local recipients; the
 * promise resolves only once the message and its envelope are fsync'd in the spool.
 */
import type { RcptDsn } from "../delivery/types.ts";
import type { MessageContent } from "../store/content.ts";

/** RFC 3461 parameters of a message (MAIL) and of its recipients (RCPT, by address). */
export interface OutboundDsn {
  ret?: "FULL" | "HDRS";
  envid?: string;
  rcpts?: Record<string, RcptDsn>;
}

export interface OutboundMessage {
  /** Queue id, as given to the client in `250 2.0.0 Ok: queued as <id>`. */
  id: string;
  /** Envelope sender; "" for the null sender `<>`. */
  from: string;
  /** Envelope recipients (non-local), deduplicated. */
  to: string[];
  /** The full message, CRLF line endings, Received header included. */
  data: Uint8Array;
  /** SMTPUTF8 / 8BITMIME requirements carried to the next hop. */
  smtpUtf8?: boolean;
  eightBit?: boolean;
  /** SPEC §8: the domain whose DKIM key signs the message when it leaves (d=). */
  dkimDomain?: string;
  dsn?: OutboundDsn;
}

/**
 * What the mail pipeline hands to enqueue: the message in memory, or (a large message
 * received into a spool file, src/delivery/incoming.ts) pieces that the queue copies
 * into its own file in chunks.
 */
export interface QueuedMessage extends Omit<OutboundMessage, "data"> {
  data: Uint8Array | MessageContent;
}

export interface QueueEntryReport {
  id: string;
  from: string;
  pending: string[];
  attempts: number;
  nextAttempt: number; // ms since epoch
  lastError: string;
  createdAt: number;
}

export interface OutboundQueue {
  enqueue(message: QueuedMessage): Promise<void>;
  list(filter?: { id?: string; domain?: string }): QueueEntryReport[];
  /** Retry now (all, or one id); false when the id is unknown. */
  flush(id?: string): boolean;
  /** Drop a queued message; false when the id is unknown. */
  remove(id: string): Promise<boolean>;
  /** Number of messages in the queue. */
  size(): number;
  /** Stop taking new deliveries and let in-flight ones finish. */
  stop(): Promise<void>;
}
