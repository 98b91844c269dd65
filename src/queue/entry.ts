/**
 * A queued message as the runner holds it (runner.ts): its envelope and the state of the
 * attempt in progress (`Entry`), one destination's share of an attempt (`Job`), and the
 * envelope a new message starts with.
 */
import type { MessageContent } from "../store/content.ts";
import { Mutex } from "../store/fsutil.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";
import type { QueuedMessage } from "./types.ts";

export interface Entry {
  env: EnvelopeRecord;
  /** An attempt is in progress. */
  busy: boolean;
  removed: boolean;
  /** Jobs of the current attempt not finished yet. */
  outstanding: number;
  lock: Mutex;
  /**
   * The message while an attempt needs it: its bytes when small, else its range of the
   * spool file, sent a chunk at a time (never the whole of a large message in memory).
   */
  data: Promise<MessageContent> | null;
  /** `data` has a line over 998 octets (one scan per attempt, shared by its jobs). */
  longLines: Promise<boolean> | null;
  /** Signatures made this attempt, by the content they sign (one per wrapping of the data). */
  signatures: WeakMap<MessageContent, Promise<string>>;
  /** Recipients a next hop took without DSN support, whose sender asked for SUCCESS. */
  relayed: RecipientRecord[];
}

export interface Job {
  entry: Entry;
  key: string;
  domain: string;
  recipients: string[];
}

export function newEntry(env: EnvelopeRecord, data: Promise<MessageContent> | null): Entry {
  return {
    env,
    busy: false,
    removed: false,
    outstanding: 0,
    lock: new Mutex(),
    data,
    longLines: null,
    signatures: new WeakMap(),
    relayed: [],
  };
}

/** The durable envelope of a message being queued, every recipient pending, due now. */
export function newEnvelope(message: QueuedMessage, rcpts: string[], now: number): EnvelopeRecord {
  return {
    v: 1,
    id: message.id,
    from: message.from,
    createdAt: now,
    size: message.data instanceof Uint8Array ? message.data.length : message.data.size,
    smtpUtf8: message.smtpUtf8 === true,
    eightBit: message.eightBit === true,
    attempts: 0,
    nextAttempt: now,
    lastError: "",
    rcpts: rcpts.map((addr) => {
      const dsn = message.dsn?.rcpts?.[addr];
      return {
        addr,
        state: "pending",
        status: "",
        diag: "",
        mta: "",
        ...(dsn?.notify ? { notify: dsn.notify } : {}),
        ...(dsn?.orcpt ? { orcpt: dsn.orcpt } : {}),
      };
    }),
    ...(message.dsn?.ret ? { ret: message.dsn.ret } : {}),
    ...(message.dsn?.envid ? { envid: message.dsn.envid } : {}),
    ...(message.dkimDomain ? { dkim: message.dkimDomain } : {}),
  };
}
