/**
 * A connection: a node:net socket (upgradable to TLS in place, RFC 3207 / RFC 2595 /
 * RFC 3501 STARTTLS) with line and block reads, back-pressured writes and an idle
 * timeout. Every protocol session is written against this class, and so is the outbound
 * SMTP client (src/smtpclient/), which opens its connections with Connection.connect()
 * and upgrades them with startTlsClient().
 */
import net, { type Socket } from "node:net";
import tls, { type SecureContext, TLSSocket } from "node:tls";
import { DeflateLayer } from "./deflate_layer.ts";
import { IdleTimer } from "./idle_timer.ts";
import { LineBuffer, type LineResult } from "./linebuffer.ts";
import { quickAck } from "./quickack.ts";

/** Raised by reads when the line is longer than allowed (the rest was discarded). */
export class LineTooLongError extends Error {}

/**
 * Input buffered beyond this pauses the socket until the session reads it (the kernel's
 * receive window then stops the client). A session that is working through pipelined
 * commands keeps at most this much of them in memory.
 */
const HIGH_WATER = 128 * 1024;
/** What node:net in Deno reads at most at once (its read buffer). */
const READ_SIZE = 64 * 1024;
const SETTLED: Promise<void> = Promise.resolve();
let nextId = 0;

export class Connection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Asked of the socket on first use (a getsockname(2) most sessions never need). */
  #local: { address: string; port: number } | null = null;
  #socket: Socket | TLSSocket;
  /** The TCP socket under any TLS: the one TCP options are set on. */
  readonly #tcp: Socket;
  #buffer = new LineBuffer();
  #eof = false;
  #error: Error | null = null;
  #waiter: (() => void) | null = null;
  #closed = false;
  #closeHandlers: (() => void)[] = [];
  #idle = new IdleTimer(() => this.#closed);
  /** Input arrived since our last write: no reply has carried its ACK yet (ackInput). */
  #unanswered = false;
  /** The last read filled the runtime's whole read buffer (ackInput). */
  #fullRead = false;
  /** COMPRESS=DEFLATE (RFC 4978): every byte in and out passes through it once set. */
  #layer: DeflateLayer | null = null;
  /** Octets readBytes() waits for: the layer inflates up to that much, past HIGH_WATER. */
  #wanted = 0;
  /** Server sessions read no command while their replies are not drained (SPEC §7). */
  #gateInput: boolean;
  /** Resolves when the socket's output drains (or the connection ends); shared. */
  #drain: { promise: Promise<void>; resolve: () => void } | null = null;
  secure: boolean;
  /** TLS protocol and cipher after a handshake, for Received headers and logs. */
  tlsInfo: { protocol: string; cipher: string } | null = null;

  /**
   * `gateInput` (the default, for server sessions): readLine() and readBytes() wait while
   * the client is not reading its replies. The outbound SMTP client turns it off: it
   * reads replies to learn whether to go on sending.
   */
  constructor(socket: Socket | TLSSocket, secure = false, gateInput = true) {
    this.#socket = socket;
    // A TLSSocket made over an accepted socket keeps that socket as its _parent.
    this.#tcp =
      (socket instanceof TLSSocket
        ? (socket as unknown as { _parent?: Socket })._parent
        : undefined) ?? socket;
    this.secure = secure;
    this.#gateInput = gateInput;
    this.id = (Date.now() % 1e8).toString(36) + (nextId++).toString(36).padStart(3, "0");
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
    this.#attach(socket);
    if (secure && socket instanceof TLSSocket) this.#recordTls(socket);
  }

  /** Our address of the connection (IPv4-mapped addresses unwrapped). */
  get localAddress(): string {
    return this.#localEnd().address;
  }

  get localPort(): number {
    return this.#localEnd().port;
  }

  #localEnd(): { address: string; port: number } {
    return this.#local ??= {
      address: normalizeIp(this.#tcp.localAddress ?? ""),
      port: this.#tcp.localPort ?? 0,
    };
  }

  /**
   * An outbound connection to `address`:`port` (an IP address: the caller resolved the
   * name). Rejects with the socket's error, or after `timeoutMs` without a connection.
   */
  static connect(address: string, port: number, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address, port });
      socket.setNoDelay(true);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      const timer = setTimeout(() => fail(new Error("connection timed out")), timeoutMs);
      socket.once("error", fail);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        resolve(new Connection(socket, false, false));
      });
    });
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#layer) {
        this.#layer.input(chunk);
        if (this.#layer.pendingInput > HIGH_WATER) socket.pause();
      } else {
        // Each read is a buffer of its own that nobody else keeps (node:net and node:tls
        // in Deno 2.9, tests/net_connection_test.ts): the line buffer may keep it as it is.
        this.#buffer.push(
          chunk,
          chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength,
        );
        if (this.#buffer.buffered > HIGH_WATER) socket.pause();
      }
      this.#unanswered = true;
      // A full read: more is on its way, and its ACKs with it (see ackInput()).
      this.#fullRead = chunk.length >= READ_SIZE;
      this.#idle.input();
      this.#wake();
    });
    socket.on("end", () => {
      // With a layer, input still being inflated comes first.
      if (this.#layer) this.#layer.endInput();
      else {
        this.#eof = true;
        this.#wake();
      }
    });
    socket.on("drain", () => this.#drained());
    socket.on("error", (err: Error) => {
      this.#error = err;
      this.#eof = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#layer?.destroy();
      this.#eof = true;
      this.#markClosed();
      this.#wake();
    });
  }

  #drained(): void {
    const d = this.#drain;
    this.#drain = null;
    d?.resolve();
  }

  /**
   * True while the client is not taking its replies: the socket's buffer went past its
   * high-water mark and has not drained since (node's writableNeedDrain).
   */
  get outputBlocked(): boolean {
    return this.#socket.writableNeedDrain && !this.#closed && !this.#socket.destroyed;
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

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  #wait(): Promise<void> {
    // The waiter first: resume() may hand over buffered data at once, and a wake-up
    // with nobody waiting would leave this wait for input that already came.
    const woken = new Promise<void>((resolve) => (this.#waiter = resolve));
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#layer?.resume();
    return woken;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The peer finished sending (or the connection failed): nothing more will arrive. */
  get inputEnded(): boolean {
    return this.#eof;
  }

  /** The socket error that ended the connection, if one did (for logs and DSNs). */
  get socketError(): Error | null {
    return this.#error;
  }

  /** Bytes written but not yet taken by the kernel: what back-pressure keeps small. */
  get bufferedOutput(): number {
    return this.#socket.writableLength + (this.#layer?.pendingOutput ?? 0);
  }

  /** Bytes received but not yet read (pipelined input, or injected before STARTTLS). */
  get bufferedInput(): number {
    return this.#buffer.buffered;
  }

  /**
   * True when a complete line is already buffered (a pipelined command): the next
   * readLine() returns without waiting, so replies can be batched into one write.
   */
  get hasBufferedLine(): boolean {
    return this.#buffer.hasLine();
  }

  /**
   * Next line without its terminator, or null at end of input. `max` is the limit on
   * the line's length; over it, LineTooLongError after discarding the line.
   */
  async readLine(max: number): Promise<{ line: Uint8Array; bareLf: boolean } | null> {
    for (;;) {
      // Back-pressure (SPEC §7): no next command while the replies are not read.
      if (this.#gateInput && this.outputBlocked) {
        await this.drained();
        continue;
      }
      const r = this.readLineNow(max);
      if (r !== undefined) return r;
      // Part of a line came: the client may hold the rest until it is acknowledged.
      if (this.#buffer.buffered > 0) this.ackInput();
      this.#buffer.shrinkIfEmpty(); // idle between commands: a past burst's memory goes
      await this.#wait();
    }
  }

  /**
   * readLine() without waiting: the next line when one is buffered, null at end of
   * input, undefined when more input is needed (then await readLine()). Lets a session
   * loop skip a promise per command when the command is already here. Undefined too
   * while the client is not reading its replies: readLine() waits for them to drain.
   * Null once the connection is closed, even with lines still buffered.
   */
  readLineNow(max: number): { line: Uint8Array; bareLf: boolean } | null | undefined {
    // A connection that is gone takes no further command: nobody would get the reply.
    if (this.#closed) return null;
    if (this.#gateInput && this.outputBlocked) return undefined;
    const r: LineResult = this.#buffer.nextLine(max);
    if (r.kind === "line") return { line: r.line, bareLf: r.bareLf };
    if (r.kind === "toolong") throw new LineTooLongError(`line longer than ${max} octets`);
    return this.#eof ? null : undefined;
  }

  /** Exactly n bytes (IMAP literals, SMTP BDAT chunks), or null at end of input. */
  async readBytes(n: number): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#gateInput && this.outputBlocked) {
        await this.drained();
        continue;
      }
      const block = this.#buffer.take(n);
      if (block) {
        this.#wanted = 0;
        return block;
      }
      if (this.#eof) return null;
      this.#wanted = n;
      this.ackInput(); // in the middle of a block: see ackInput()
      await this.#wait();
    }
  }

  /**
   * Streaming reads without copies (SMTP DATA, BDAT): a view of the bytes received
   * and not yet read, valid until the next await; pair it with consumeInput().
   */
  peekInput(): Uint8Array {
    return this.#buffer.peek();
  }

  /** Marks the first `n` bytes of peekInput() as read. */
  consumeInput(n: number): void {
    this.#buffer.consume(n);
  }

  /**
   * Stops reading the socket now rather than at HIGH_WATER (a message transfer waiting for
   * its turn, net/bulk_input.ts); the next wait for input resumes it.
   */
  pauseInput(): void {
    if (!this.#socket.isPaused()) this.#socket.pause();
  }

  /** Waits for more input; false at end of input (nothing more will arrive). */
  async waitForInput(): Promise<boolean> {
    if (this.#eof) return false;
    this.ackInput(); // in the middle of message data: see ackInput()
    await this.#wait();
    return true;
  }

  /**
   * Acknowledges the input received so far at once (TCP_QUICKACK, quickack.ts). For a
   * session about to wait for the rest of a command it has started to read (the CRLF
   * after an IMAP literal, the rest of a BDAT chunk or of DATA): a client with Nagle's
   * algorithm on holds its next small write until then, and with no reply to carry the
   * ACK the kernel would delay it by 40 ms or more. Not for waits between commands: the
   * reply carries the ACK there, and an ACK of its own would be one more packet. Nothing
   * is done either when nothing arrived since our last write (it carried the ACK), nor
   * after a read that filled the whole read buffer: more is in flight then, the kernel
   * acknowledges a stream of full segments at once (every second one), and a message
   * streaming in made five system calls per 64 KiB read for nothing (95,000 in bench
   * hostile's 100 x 25 MiB). The next partial read, the end of a burst, acknowledges.
   */
  ackInput(): void {
    if (!this.#unanswered || this.#closed || this.#fullRead) return;
    this.#unanswered = false;
    quickAck(this.#tcp);
  }

  /**
   * Writes and waits while the socket's buffer is full (back-pressure) until it drains
   * or the connection ends. A write that leaves it under its high-water mark
   * (socket.write() returns true: the usual reply) returns an already settled promise.
   */
  write(data: string | Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed) return SETTLED;
    this.#unanswered = false; // the segment carries the ACK
    // A reply to a client that reads them restarts the idle wait; one that does not read
    // stops being touched once its output is blocked.
    if (!this.outputBlocked) this.#idle.touch();
    if (this.#layer) return this.#layer.output(data).then(() => this.drained());
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
    if (this.#closed || this.#socket.destroyed) return;
    this.#unanswered = false;
    if (!this.outputBlocked) this.#idle.touch();
    if (this.#layer) void this.#layer.output(data);
    else this.#socket.write(data);
  }

  /** Whether COMPRESS=DEFLATE is active (RFC 4978 COMPRESSIONACTIVE). */
  get compressed(): boolean {
    return this.#layer !== null;
  }

  /**
   * Starts raw DEFLATE in both directions (IMAP COMPRESS, RFC 4978), after the reply
   * that announced it was written: everything written from now on is compressed, and
   * input not yet read (already buffered, then everything received) is inflated. Like
   * startTls(), this is the one seam where the byte stream changes: reads, writes and
   * back-pressure above it stay as they were.
   */
  startCompression(): void {
    if (this.#layer) throw new Error("compression is already active");
    const pending = this.#buffer.peek().slice();
    this.#buffer.clear();
    this.#layer = new DeflateLayer({
      deliver: (bytes) => {
        this.#buffer.push(bytes);
        this.#wake();
      },
      room: () => this.#buffer.buffered <= Math.max(HIGH_WATER, this.#wanted),
      emit: (bytes) => {
        if (!this.#socket.destroyed) this.#socket.write(bytes);
      },
      fail: (error) => {
        this.#error = error;
        this.#socket.destroy();
        this.#markClosed();
      },
      inputEnded: () => {
        this.#eof = true;
        this.#wake();
      },
    });
    this.#layer.input(pending);
  }

  /**
   * Upgrades to TLS in place, as the server. Input buffered before the handshake is
   * discarded, so commands injected in plaintext are never executed after it
   * (CVE-2011-0411).
   */
  startTls(context: SecureContext): Promise<void> {
    return this.#upgrade(
      (plain) => new TLSSocket(plain, { isServer: true, secureContext: context }),
      "secure",
      0,
    );
  }

  /**
   * Upgrades to TLS in place, as the client (RFC 3207 §4 after "220 Ready to start TLS").
   * Replies buffered before the handshake are discarded likewise. `servername` is sent as
   * SNI unless it is an IP address (RFC 6066 §3); `verify` false accepts any certificate
   * (opportunistic TLS, RFC 7435). Rejects after `timeoutMs` without a completed handshake.
   * `trust` (the links between cluster nodes, SPEC §12): the certificate must chain to one
   * of these CA certificates (PEM), whatever name it carries; the nodes then prove a
   * shared secret over the channel.
   */
  startTlsClient(
    servername: string,
    verify: boolean,
    timeoutMs: number,
    trust?: { ca: string[] },
  ): Promise<void> {
    return this.#upgrade(
      (plain) =>
        tls.connect({
          socket: plain,
          servername: net.isIP(servername) ? undefined : servername,
          rejectUnauthorized: verify || trust !== undefined,
          ...(trust ? { ca: trust.ca, checkServerIdentity: () => undefined } : {}),
        }),
      "secureConnect",
      timeoutMs,
    );
  }

  async #upgrade(
    wrap: (plain: Socket) => TLSSocket,
    ready: "secure" | "secureConnect",
    timeoutMs: number,
  ): Promise<void> {
    // RFC 4978 §3: TLS goes under compression, never inside it.
    if (this.#layer) throw new Error("cannot start TLS inside compression");
    this.#buffer.clear();
    const plain = this.#socket;
    for (const event of ["data", "end", "close", "error"]) plain.removeAllListeners(event);
    const secure = wrap(plain);
    this.#socket = secure;
    this.#eof = false;
    this.#attach(secure);
    await new Promise<void>((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          secure.destroy();
          reject(new Error(`timed out after ${timeoutMs} ms`));
        }, timeoutMs)
        : null;
      const settle = (error?: Error) => {
        if (timer !== null) clearTimeout(timer);
        secure.off("error", settle);
        if (error) reject(error);
        else resolve();
      };
      secure.once(ready, () => settle());
      secure.once("error", settle);
      secure.once("close", () => settle(new Error("connection closed during TLS handshake")));
    });
    this.secure = true;
    this.#recordTls(secure);
  }

  #recordTls(tls: TLSSocket): void {
    const cipher = tls.getCipher?.();
    this.tlsInfo = { protocol: tls.getProtocol?.() ?? "TLS", cipher: cipher?.name ?? "unknown" };
  }

  /** Closes after pending writes are flushed. */
  close(): void {
    if (this.#closed) return;
    const socket = this.#socket;
    // Compressed output still in the deflater goes out before the end.
    if (this.#layer) void this.#layer.drained().then(() => socket.end());
    else socket.end();
    // A peer that never reads must not keep us open: destroy after a grace period.
    setTimeout(() => this.#socket.destroy(), 5000).unref?.();
    this.#markClosed();
  }

  destroy(): void {
    this.#layer?.destroy();
    this.#socket.destroy();
    this.#markClosed();
  }

  onClose(handler: () => void): void {
    if (this.#closed) handler();
    else this.#closeHandlers.push(handler);
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#eof = true;
    this.#idle.stop();
    for (const h of this.#closeHandlers.splice(0)) h();
    this.#drained();
    this.#wake();
  }

  /**
   * Calls `onIdle` after `seconds` without input (0: never); each received byte, and
   * each reply taken by a client that reads them, restarts the wait (idle_timer.ts).
   */
  setIdleTimeout(seconds: number, onIdle: () => void): void {
    this.#idle.start(seconds, onIdle);
  }
}

/** node:net reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
