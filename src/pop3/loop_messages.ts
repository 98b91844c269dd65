/**
 * The messages between the main thread and the POP3 second event loop (loop.ts,
 * loop_worker.ts). LoopReply goes to the loop, LoopRequest comes from it.
 */
import type { UserRecord } from "../directory/records.ts";
import type { MaildropSnapshot } from "./maildrop.ts";

/** What the loop's sessions need of the configuration (sent again after RELOAD). */
export interface LoopSettings {
  TimeoutPOP3: number;
  HostName: string;
  LogLevel: string;
  version: string;
}

/** A session past login, moving to the loop. */
export interface SessionHandOver {
  id: string;
  fd: number;
  user: UserRecord;
  snapshot: MaildropSnapshot;
  plainAuth: boolean;
}

export type LoopReply =
  | { t: "settings"; settings: LoopSettings }
  | { t: "session"; session: SessionHandOver }
  | { t: "goodbye"; id: string }
  | { t: "answer"; seq: number; value?: number | string | number[] | null; error?: string };

/** The marks a session made on the loop, for the main thread's maildrop. */
interface Marks {
  deleted: Uint8Array;
  retrieved: Uint8Array;
}

export type LoopRequest =
  | { t: "log"; level: string; service: string; props: Record<string, unknown>; text: string }
  /** QUIT's UPDATE (RFC 1939 §6): the answer is how many messages were removed. */
  | ({ t: "commit"; seq: number; id: string } & Marks)
  /** The session ends: \Seen for what it retrieved, the lock released. */
  | ({ t: "end"; seq: number; id: string } & Marks)
  /** Message n's file now (renamed since the login), or null when it is gone. */
  | { t: "file"; seq: number; id: string; n: number }
  /** The numbers of messages expunged since the login. */
  | { t: "gone-list"; seq: number; id: string }
  /** The session's connection is closed: the main thread's session ends. */
  | { t: "gone"; id: string };
