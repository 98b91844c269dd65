/**
 * POP3 sessions on a second event loop: after a login on the main thread, a plain-TCP
 * session may be handed to a worker thread (loop_worker.ts) that runs its TRANSACTION
 * commands, reading the message files itself, while the main thread keeps everything
 * that changes the store.
 *
 * Why: on a 2-core machine bench:peers' POP3 load kept our one event loop 84-89 % busy
 * while 40 % of a core stayed idle; two daemons of two sessions each (an upper bound of
 * two loops) took 1.72x the RETRs per second of one daemon with four
 * (docs/performance.md, "Stop 37: POP3 sessions on a second event loop").
 *
 * How a session moves: the accepted socket stays the main thread's until the login
 * succeeded, so greeting, connection limits, the login guard, STLS and the maildrop lock
 * stay where they are. Then, between commands and with nothing buffered, the main thread
 * hands over a duplicate of the socket's descriptor (threads share the descriptor table;
 * Connection.detach()) and the maildrop's snapshot (UIDs, sizes, files). The loop wraps
 * the descriptor in a socket of its own and runs the same Pop3Session code on a
 * SnapshotMaildrop. It asks the main thread, by message, only for QUIT's UPDATE
 * ("commit"), the session's end ("end": \Seen for what it retrieved, the lock released)
 * and, rarely, where a file renamed since the login went ("file").
 *
 * Which sessions move: the loop takes a login when it holds no more sessions than the
 * main thread does, so four clients end up two and two. TLS sessions (POP3S, STLS) stay
 * on the main thread, whose TLS state cannot move; so do logins while the loop is not
 * running. If the thread fails, its sessions end (their connections close, the main
 * thread releases their locks) and every later session stays on the main thread.
 */
import { emitForwarded, type Level, log } from "../log.ts";
import type { UserRecord } from "../directory/records.ts";
import { systemLibc } from "../sys/libc.ts";
import { startWorker } from "../workers.ts";
import type { Maildrop, MaildropSnapshot } from "./maildrop.ts";
import type { LoopReply, LoopRequest, LoopSettings, SessionHandOver } from "./loop_messages.ts";

/** A session running on the loop, as the main thread keeps it. */
interface LoopSession {
  maildrop: Maildrop;
  /** The loop said its session ended (or the loop died). */
  ended: () => void;
}

export interface HandOver {
  /** Connection.id: the session keeps its id, so its log lines stay together. */
  id: string;
  /** Connection.detach()'s descriptor, now the loop's. */
  fd: number;
  user: UserRecord;
  snapshot: MaildropSnapshot;
  maildrop: Maildrop;
  /** CAPA's USER and SASL lines (PlainAuthWithoutTLS for this client). */
  plainAuth: boolean;
}

export class Pop3Loop {
  readonly #worker: Worker;
  readonly #sessions = new Map<string, LoopSession>();
  /** POP3 sessions past login that stayed on the main thread. */
  #onMain = 0;
  #broken = false;
  readonly #logger = log("pop3");

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /**
   * Starts the loop's thread (at daemon start: a thread's start blocks its caller for
   * tens of milliseconds); null when it cannot start, and then every session stays on
   * the main thread.
   */
  static start(settings: LoopSettings): Pop3Loop | null {
    const early: { loop?: Pop3Loop } = {};
    try {
      const worker = startWorker<LoopRequest>(new URL("./loop_worker.ts", import.meta.url).href, {
        message: (m) => early.loop?.heard(m),
        error: (why) => early.loop?.fail(why),
      });
      const loop = early.loop = new Pop3Loop(worker);
      loop.#post({ t: "settings", settings });
      return loop;
    } catch (e) {
      log("pop3").warn(`POP3 second event loop unavailable (${e}); sessions stay on one loop`);
      return null;
    }
  }

  /** Whether the next login should move to the loop (the loop holds no more than main). */
  takes(): boolean {
    return !this.#broken && this.#sessions.size <= this.#onMain;
  }

  /** A session past login stays on the main thread; the returned function ends it. */
  stayed(): () => void {
    this.#onMain++;
    let counted = true;
    return () => {
      if (counted) this.#onMain--;
      counted = false;
    };
  }

  /** Runs a logged-in session on the loop; resolves when it has ended there. */
  run(h: HandOver): Promise<void> {
    if (this.#broken) {
      // Nobody took the descriptor: closing it ends the connection.
      systemLibc()?.close(h.fd);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#sessions.set(h.id, { maildrop: h.maildrop, ended: resolve });
      const session: SessionHandOver = {
        id: h.id,
        fd: h.fd,
        user: h.user,
        snapshot: h.snapshot,
        plainAuth: h.plainAuth,
      };
      this.#post({ t: "session", session });
    });
  }

  /** The shutdown notice for a session on the loop (SessionHandle.goodbye). */
  goodbye(id: string): void {
    if (this.#sessions.has(id)) this.#post({ t: "goodbye", id });
  }

  /** New settings after RELOAD (timeouts, LogLevel). */
  reload(settings: LoopSettings): void {
    this.#post({ t: "settings", settings });
  }

  /** Ends the thread (after the sessions' goodbyes); sessions still there end with it. */
  stop(): void {
    this.#broken = true;
    this.#worker.terminate();
    this.#endAll();
  }

  #post(m: LoopReply): void {
    try {
      this.#worker.postMessage(m);
    } catch (e) {
      this.fail(`cannot post to the POP3 loop: ${e}`);
    }
  }

  /** A message from the thread (start's handler). */
  heard(m: LoopRequest): void {
    switch (m.t) {
      case "log":
        emitForwarded(m.level as Level, m.service, m.props, m.text);
        return;
      case "gone": {
        const s = this.#sessions.get(m.id);
        this.#sessions.delete(m.id);
        s?.ended();
        return;
      }
      case "commit":
      case "end":
      case "file":
      case "gone-list":
        void this.#answer(m);
        return;
    }
  }

  /** A request of a session's store work, answered by message with the same `seq`. */
  async #answer(
    m: Extract<LoopRequest, { t: "commit" | "end" | "file" | "gone-list" }>,
  ): Promise<void> {
    const s = this.#sessions.get(m.id);
    if (!s) {
      this.#post({ t: "answer", seq: m.seq, error: "the session is not known" });
      return;
    }
    const md = s.maildrop;
    try {
      switch (m.t) {
        case "commit": {
          md.takeMarks(m.deleted, m.retrieved);
          this.#post({ t: "answer", seq: m.seq, value: await md.commit() });
          return;
        }
        case "end": {
          md.takeMarks(m.deleted, m.retrieved);
          try {
            await md.markSeen();
          } finally {
            md.release();
          }
          this.#post({ t: "answer", seq: m.seq, value: 0 });
          return;
        }
        case "file":
          this.#post({ t: "answer", seq: m.seq, value: await md.currentFile(m.n) });
          return;
        case "gone-list":
          this.#post({ t: "answer", seq: m.seq, value: md.goneNumbers() });
          return;
      }
    } catch (e) {
      this.#post({ t: "answer", seq: m.seq, error: String((e as Error)?.message ?? e) });
    }
  }

  /** The thread failed: its sessions end, later ones stay on the main thread. */
  fail(why: string): void {
    if (!this.#broken) {
      this.#logger.error(`the POP3 second event loop failed (${why}); sessions stay on one loop`);
    }
    this.#broken = true;
    this.#worker.terminate();
    this.#endAll();
  }

  #endAll(): void {
    for (const s of this.#sessions.values()) s.ended();
    this.#sessions.clear();
  }
}
