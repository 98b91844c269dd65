/**
 * The POP3 second event loop's thread (loop.ts): runs sessions handed over after their
 * login on the main thread, with the same Pop3Session and command table, on a socket
 * wrapped around the descriptor the main thread passed (threads share the descriptor
 * table) and a SnapshotMaildrop. Its log lines are written by the main thread.
 */
/// <reference lib="deno.worker" />
import net from "node:net";
import { forwardLogging, type Level } from "../log.ts";
import { Connection } from "../net/connection.ts";
import { systemLibc } from "../sys/libc.ts";
import type { ServerContext, SessionHandle } from "../server/context.ts";
import type { ServiceSpec } from "../server/services.ts";
import type { LoopReply, LoopRequest, LoopSettings, SessionHandOver } from "./loop_messages.ts";
import { POP3_COMMANDS, Pop3Session } from "./session.ts";
import { type MainThreadStore, SnapshotMaildrop } from "./snapshot_maildrop.ts";

function post(m: LoopRequest): void {
  self.postMessage(m);
}

/** Requests to the main thread waiting for their answer, by sequence number. */
const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let seq = 0;

function ask<T>(request: (seq: number) => LoopRequest): Promise<T> {
  const n = ++seq;
  return new Promise<T>((resolve, reject) => {
    waiting.set(n, { resolve: resolve as (v: unknown) => void, reject });
    post(request(n));
  });
}

/**
 * What a Pop3Session past login asks of its context here: settings, CAPA's inputs and
 * the registry that shutdown walks. The login half of ServerContext (directory, guard,
 * store) is never reached: the state table runs only TRANSACTION commands after login.
 */
class LoopContext {
  config = { TimeoutPOP3: 600, HostName: "localhost" };
  version = "";
  readonly tlsContext = null;
  readonly sessions = new Set<SessionHandle>();
  /** CAPA's USER/SASL lines per session, as the main thread decided for its client. */
  readonly plainAuth = new Map<string, boolean>();
  readonly pop3Loop = null;

  register(handle: SessionHandle): () => void {
    this.sessions.add(handle);
    return () => this.sessions.delete(handle);
  }

  plainAuthAllowed(conn: Connection): boolean {
    return this.plainAuth.get(conn.id) ?? false;
  }

  apply(s: LoopSettings): void {
    this.config = { ...this.config, TimeoutPOP3: s.TimeoutPOP3, HostName: s.HostName };
    this.version = s.version;
    forwardLogging(
      s.LogLevel as Level,
      (level, service, props, text) =>
        post({ t: "log", level, service, props: { ...props }, text }),
    );
  }
}

const context = new LoopContext();
const ctx = context as unknown as ServerContext;
/** The handed-over sessions are plain-TCP POP3 sessions past login (PortPOP3). */
const service = { name: "pop3", family: "pop3" } as ServiceSpec;

function mainThreadStore(id: string): MainThreadStore {
  return {
    commit: (deleted, retrieved) =>
      ask<number>((seq) => ({ t: "commit", seq, id, deleted, retrieved })),
    end: (deleted, retrieved) =>
      ask<void>((seq) => ({ t: "end", seq, id, deleted, retrieved })).then(() => {}),
    file: (n) => ask<string | null>((seq) => ({ t: "file", seq, id, n })),
    gone: () => ask<number[]>((seq) => ({ t: "gone-list", seq, id })),
  };
}

function startSession(h: SessionHandOver): void {
  let conn: Connection;
  try {
    const socket = new net.Socket({
      fd: h.fd,
      readable: true,
      writable: true,
      // As the main thread's listener (net/listener.ts): a client's FIN ends only its side,
      // so QUIT's reply (after the main thread's UPDATE) still reaches a half-closed client.
      allowHalfOpen: true,
    } as net.SocketConstructorOpts);
    conn = new Connection(socket, false, true, h.id);
  } catch (e) {
    // The descriptor could not be taken: closed (the connection ends), and the main
    // thread ends the session and its lock.
    systemLibc()?.close(h.fd);
    post({
      t: "log",
      level: "error",
      service: "pop3",
      props: { sid: h.id },
      text: `cannot take over the connection: ${e}`,
    });
    void mainThreadStore(h.id).end(h.snapshot.deleted, h.snapshot.retrieved).finally(() =>
      post({ t: "gone", id: h.id })
    );
    return;
  }
  context.plainAuth.set(h.id, h.plainAuth);
  const session = new Pop3Session(ctx, conn, service, POP3_COMMANDS);
  session.resume(h.user, new SnapshotMaildrop(h.snapshot, mainThreadStore(h.id)))
    .catch((e) => {
      post({
        t: "log",
        level: "error",
        service: "pop3",
        props: { sid: h.id },
        text: `session failed: ${e?.stack ?? e}`,
      });
      conn.destroy();
    })
    .finally(() => {
      context.plainAuth.delete(h.id);
      post({ t: "gone", id: h.id });
    });
}

self.onmessage = (ev: MessageEvent<LoopReply>) => {
  const m = ev.data;
  switch (m.t) {
    case "settings":
      context.apply(m.settings);
      return;
    case "session":
      startSession(m.session);
      return;
    case "goodbye":
      for (const s of context.sessions) if (s.conn.id === m.id) void s.goodbye();
      return;
    case "answer": {
      const w = waiting.get(m.seq);
      waiting.delete(m.seq);
      if (!w) return;
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.value);
      return;
    }
  }
};
