/**
 * The output half of a Connection (connection.ts): replies written to the socket, or
 * through its handle on plain TCP (socket_write.ts), or through the COMPRESS layer; the
 * back-pressure on them (SPEC §7: outputBlocked, drained()); and the idle timer, which
 * replies taken by a client restart. Connection owns the socket and its upgrades (TLS,
 * COMPRESS), which set the fields here.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DeflateLayer } from "./deflate_layer.ts";
import { IdleTimer } from "./idle_timer.ts";
import { ConnectionInput } from "./connection_input.ts";
import type { DirectWriter } from "./socket_write.ts";
import { sendAtAccept } from "./greeting_write.ts";

const SETTLED: Promise<void> = Promise.resolve();

export abstract class ConnectionOutput extends ConnectionInput {
  /** The socket written to: the accepted (or outbound) one, or the TLS socket over it. */
  protected socket: Socket | TLSSocket;
  protected readonly idle = new IdleTimer(() => this.closed);
  /** COMPRESS=DEFLATE (RFC 4978): every byte in and out passes through it once set. */
  protected layer: DeflateLayer | null = null;
  /**
   * Plain TCP of server sessions: replies written through the socket's handle
   * (socket_write.ts); `writeDirect` turns off under TLS and COMPRESS, whose layers
   * write through the socket. The writer stays for its writes still queued.
   */
  protected direct: DirectWriter | null = null;
  protected writeDirect = false;
  /** Queued direct output from which writes wait, as the socket's writableHighWaterMark. */
  protected directHighWater = 0;
  /** Resolves when the socket's output drains (or the connection ends); shared. */
  #drain: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(socket: Socket | TLSSocket, gateInput: boolean) {
    super(gateInput);
    this.socket = socket;
  }

  /** The socket's output drained (or the connection ended): the waits for it resolve. */
  protected outputDrained(): void {
    const d = this.#drain;
    this.#drain = null;
    d?.resolve();
  }

  /**
   * True while the client is not taking its replies: the socket's buffer went past its
   * high-water mark and has not drained since (node's writableNeedDrain).
   */
  get outputBlocked(): boolean {
    return (this.socket.writableNeedDrain ||
      (this.direct !== null && this.direct.pending >= this.directHighWater)) &&
      !this.closed && !this.socket.destroyed;
  }

  /**
   * Resolves once the replies written so far are taken by the kernel, at once when they
   * already are, and when the connection ends (nothing will drain then).
   */
  drained(): Promise<void> {
    if (!this.outputBlocked) return SETTLED;
    if (!this.#drain) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#drain = { promise, resolve };
    }
    return this.#drain.promise;
  }

  /** Bytes written but not yet taken by the kernel: what back-pressure keeps small. */
  get bufferedOutput(): number {
    return this.socket.writableLength + (this.direct?.pending ?? 0) +
      (this.layer?.pendingOutput ?? 0);
  }

  /**
   * Writes and waits while the socket's buffer is full (back-pressure) until it drains
   * or the connection ends. A write that leaves it under its high-water mark
   * (socket.write() returns true: the usual reply) returns an already settled promise.
   */
  write(data: string | Uint8Array): Promise<void> {
    const socket = this.socket;
    if (this.closed || socket.destroyed) return SETTLED;
    this.unanswered = false; // the segment carries the ACK
    // A reply to a client that reads them restarts the idle wait; one that does not read
    // stops being touched once its output is blocked.
    if (!this.outputBlocked) this.idle.touch();
    if (this.layer) return this.layer.output(data).then(() => this.drained());
    if (this.writeDirect && socket.writableLength === 0 && !socket.writableEnded) {
      const direct = this.direct!;
      if (direct.write(data) !== 0) return this.#failWrite();
      return direct.pending >= this.directHighWater ? this.drained() : SETTLED;
    }
    return socket.write(data) ? SETTLED : this.drained();
  }

  /**
   * write() for callers that avoid awaiting when there is nothing to wait for: false
   * when the data was queued under the high-water mark (nothing to wait for), else the
   * promise write() returns.
   */
  writeNow(data: string | Uint8Array): false | Promise<void> {
    const w = this.write(data);
    return w === SETTLED ? false : w;
  }

  /**
   * Write without waiting (small replies); ordering is preserved by the socket. A client
   * that does not read them is stopped by the gate on readLine(), which does not take
   * its next command until they drain.
   */
  send(data: string | Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    this.unanswered = false;
    if (!this.outputBlocked) this.idle.touch();
    const socket = this.socket;
    if (this.layer) void this.layer.output(data);
    else if (this.writeDirect && socket.writableLength === 0 && !socket.writableEnded) {
      if (this.direct!.write(data) !== 0) void this.#failWrite();
    } else socket.write(data);
  }

  /**
   * The greeting (SMTP 220, POP3 +OK, IMAP * OK): the connection's first write, as send().
   * On plain TCP with nothing queued it goes through the socket's descriptor, so it leaves
   * in this turn instead of after the runtime's first poll of the new socket
   * (greeting_write.ts); what that cannot send (not possible here, EAGAIN, a partial or
   * failed send) goes through send(). `sendNow` is for tests.
   */
  sendGreeting(text: string, sendNow = sendAtAccept): void {
    const socket = this.socket;
    if (this.closed || socket.destroyed) return;
    if (this.writeDirect && this.bufferedOutput === 0 && !socket.writableEnded) {
      const rest = sendNow(socket as Socket, text);
      if (rest.length === 0) {
        this.unanswered = false;
        this.idle.touch();
        return;
      }
      this.send(rest);
      return;
    }
    this.send(text);
  }

  /** A direct write failed at once: the socket is done, as node:net does with it. */
  #failWrite(): Promise<void> {
    this.socket.destroy(new Error("write failed"));
    return SETTLED;
  }
}
