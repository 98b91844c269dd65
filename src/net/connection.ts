/**
 * A connection: a node:net socket (upgradable to TLS in place, RFC 3207 / RFC 2595 /
 * RFC 3501 STARTTLS) with line and block reads, back-pressured writes and an idle
 * timeout. Every protocol session is written against this class, and so is the outbound
 * SMTP client (src/smtpclient/), which opens its connections with Connection.connect()
 * and upgrades them with startTlsClient(). The reads are its input half
 * (connection_input.ts), the writes and their back-pressure its output half
 * (connection_output.ts); this class owns the socket, its events, its upgrades and its
 * end. Outbound sockets and TLS sockets are made by socket_setup.ts.
 */
import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import { DeflateLayer } from "./deflate_layer.ts";
import { ConnectionOutput } from "./connection_output.ts";
import { quickAck } from "./quickack.ts";
import { clientTls, connectSocket, handshake, serverTls, tlsInfoOf } from "./socket_setup.ts";
import { beforeTlsWrap, readIntoShared } from "./socket_read.ts";
import { directWriter } from "./socket_write.ts";
import { duplicateSocketFd } from "./socket_fd.ts";

export { LineTooLongError } from "./connection_input.ts";

/**
 * Input buffered beyond this pauses the socket until the session reads it (the kernel's
 * receive window then stops the client). A session that is working through pipelined
 * commands keeps at most this much of them in memory.
 */
const HIGH_WATER = 128 * 1024;
/**
 * Outside a message transfer (net/bulk_input.ts) input buffered beyond this pauses the
 * socket: a session between commands needs a command line or a few pipelined ones, not
 * 128 KiB. Why: an IMAP APPEND with LITERAL+ sends its literal right behind the command
 * line, and before the session had parsed the line (100 clients at once: bench hostile's
 * many-append) each connection read on to HIGH_WATER and one read more, its line buffer
 * growing to 192 KiB: fresh memory, zeroed and faulted in on the event loop, about 21 MiB
 * per burst (docs/performance.md, branch blocks). The rest waits in the kernel until
 * the transfer holds its slot. Below one read (64 KiB), so one read at most is taken.
 */
const COMMAND_WATER = 16 * 1024;
/** What node:net in Deno reads at most at once (its read buffer). */
const READ_SIZE = 64 * 1024;
let nextId = 0;

export class Connection extends ConnectionOutput {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The TCP socket under any TLS: the one TCP options are set on. */
  readonly #tcp: Socket;
  #closed = false;
  /** The socket went to another thread (detach()): this side only waits to be closed. */
  #detached = false;
  #closeHandlers: (() => void)[] = [];
  /** Asked of the socket on first use (a getsockname(2) most sessions never need). */
  #local: { address: string; port: number } | null = null;
  secure: boolean;
  /** TLS protocol and cipher after a handshake, for Received headers and logs. */
  tlsInfo: { protocol: string; cipher: string } | null = null;

  /**
   * `gateInput` (the default, for server sessions): readLine() and readBytes() wait while
   * the client is not reading its replies. The outbound SMTP client turns it off: it
   * reads replies to learn whether to go on sending. `id`: a session handed over from
   * another thread (detach()) keeps the id its log lines had there.
   */
  constructor(socket: Socket | TLSSocket, secure = false, gateInput = true, id?: string) {
    super(socket, gateInput);
    // A TLSSocket made over an accepted socket keeps that socket as its _parent.
    this.#tcp =
      (socket instanceof TLSSocket
        ? (socket as unknown as { _parent?: Socket })._parent
        : undefined) ?? socket;
    this.secure = secure;
    this.id = id ?? (Date.now() % 1e8).toString(36) + (nextId++).toString(36).padStart(3, "0");
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
    this.#attach(socket);
    if (secure && socket instanceof TLSSocket) this.tlsInfo = tlsInfoOf(socket);
    else if (gateInput && !(socket instanceof TLSSocket)) {
      this.direct = directWriter(
        socket,
        () => this.outputDrained(),
        (status) => socket.destroy(new Error(`write failed (errno ${-status})`)),
      );
      this.writeDirect = this.direct !== null;
      this.directHighWater = socket.writableHighWaterMark;
    }
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
  static async connect(address: string, port: number, timeoutMs: number): Promise<Connection> {
    return new Connection(await connectSocket(address, port, timeoutMs), false, false);
  }

  #attach(socket: Socket | TLSSocket): void {
    // Plain TCP of server sessions: the input comes as a view of one shared buffer
    // (socket_read.ts), without a Buffer and a 'data' event per read. TLS sockets, other
    // runtimes and outbound connections (gateInput off: the client side of Deno's TLS
    // installs its read callback later than the server's, which beforeTlsWrap() does not
    // follow) emit 'data'.
    if (
      socket instanceof TLSSocket || !this.gateInput ||
      !readIntoShared(socket, (bytes, length) => this.#input(socket, bytes, length, true))
    ) {
      socket.on("data", (chunk: Uint8Array) => this.#input(socket, chunk, chunk.length, false));
    }
    socket.on("end", () => {
      // With a layer, input still being inflated comes first.
      if (this.layer) this.layer.endInput();
      else {
        this.eof = true;
        this.wake();
      }
    });
    socket.on("drain", () => this.outputDrained());
    socket.on("error", (err: Error) => {
      this.error = err;
      this.eof = true;
      this.wake();
    });
    socket.on("close", () => {
      this.layer?.destroy();
      this.eof = true;
      this.#markClosed();
      this.wake();
    });
  }

  /**
   * `length` octets of `bytes` read from the socket; `shared`: a view of the shared read
   * buffer, valid only during this call (the layer keeps what it is given: a copy then).
   */
  #input(socket: Socket, bytes: Uint8Array, length: number, shared: boolean): void {
    if (this.layer) {
      this.layer.input(shared ? bytes.slice(0, length) : bytes);
      if (this.layer.pendingInput > HIGH_WATER) socket.pause();
    } else {
      // Copied into the line buffer: keeping small reads as they came (no copy per
      // command line) raised bench hostile's peak RSS with 100 x 25 MiB at once from
      // 260-280 MiB to 300-370 (docs/performance.md), past SPEC §7's 300.
      this.buffer.push(bytes, length);
      const mark = this.streaming ? HIGH_WATER : Math.max(COMMAND_WATER, this.wanted);
      if (this.buffer.buffered > mark) socket.pause();
    }
    this.unanswered = true;
    // A full read: more is on its way, and its ACKs with it (see ackInput()).
    this.fullRead = length >= READ_SIZE;
    this.idle.input();
    if (this.layer) this.wake();
    else this.inputArrived();
  }

  get closed(): boolean {
    return this.#closed;
  }

  protected resumeInput(): void {
    if (this.socket.isPaused()) this.socket.resume();
    this.layer?.resume();
  }

  protected sendAck(): void {
    quickAck(this.#tcp);
  }

  /**
   * Stops reading the socket now rather than at HIGH_WATER (a message transfer waiting for
   * its turn, net/bulk_input.ts); the next wait for input resumes it.
   */
  pauseInput(): void {
    if (!this.socket.isPaused()) this.socket.pause();
  }

  /** Whether COMPRESS=DEFLATE is active (RFC 4978 COMPRESSIONACTIVE). */
  get compressed(): boolean {
    return this.layer !== null;
  }

  /**
   * Starts raw DEFLATE in both directions (IMAP COMPRESS, RFC 4978), after the reply
   * that announced it was written: everything written from now on is compressed, and
   * input not yet read (already buffered, then everything received) is inflated. Like
   * startTls(), this is the one seam where the byte stream changes: reads, writes and
   * back-pressure above it stay as they were.
   */
  startCompression(): void {
    if (this.layer) throw new Error("compression is already active");
    this.writeDirect = false;
    this.direct?.release();
    const pending = this.buffer.peek().slice();
    this.buffer.clear();
    this.layer = new DeflateLayer({
      deliver: (bytes) => {
        this.buffer.push(bytes);
        this.wake();
      },
      room: () => this.buffer.buffered <= Math.max(HIGH_WATER, this.wanted),
      emit: (bytes) => {
        if (!this.socket.destroyed) this.socket.write(bytes);
      },
      fail: (error) => {
        this.error = error;
        this.socket.destroy();
        this.#markClosed();
      },
      inputEnded: () => {
        this.eof = true;
        this.wake();
      },
    });
    this.layer.input(pending);
  }

  /**
   * Upgrades to TLS in place, as the server. Input buffered before the handshake is
   * discarded, so commands injected in plaintext are never executed after it
   * (CVE-2011-0411).
   */
  startTls(context: SecureContext): Promise<void> {
    return this.#upgrade((plain) => serverTls(plain, context), "secure", 0);
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
      (plain) => clientTls(plain, servername, verify, trust),
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
    if (this.layer) throw new Error("cannot start TLS inside compression");
    this.buffer.clear();
    const plain = this.socket;
    for (const event of ["data", "end", "close", "error"]) plain.removeAllListeners(event);
    this.writeDirect = false;
    this.direct?.release();
    const wrapped = beforeTlsWrap(plain);
    const secure = wrap(plain);
    wrapped();
    this.socket = secure;
    this.eof = false;
    this.#attach(secure);
    await handshake(secure, ready, timeoutMs);
    this.secure = true;
    this.tlsInfo = tlsInfoOf(secure);
  }

  /**
   * Hands the TCP connection to another thread of this process (pop3/loop.ts): returns a
   * duplicate of the socket's descriptor, which the new owner wraps in a socket of its
   * own, and lets go of this side's socket without ending the connection (no FIN: the
   * duplicate keeps it open). Only between commands of a plain TCP session, with nothing
   * buffered either way; -1, and nothing changed, otherwise. The Connection then counts
   * as open (its connection limit slot stays taken) until close(), which only marks it
   * closed.
   */
  detach(): number {
    if (
      this.#closed || this.#detached || this.secure || this.layer !== null ||
      this.bufferedInput > 0 || this.bufferedOutput > 0 || this.socket instanceof TLSSocket
    ) return -1;
    const fd = duplicateSocketFd(this.#tcp);
    if (fd < 0) return -1;
    const socket = this.socket;
    for (const event of ["data", "end", "close", "error", "drain"]) {
      socket.removeAllListeners(event);
    }
    socket.on("error", () => {});
    this.writeDirect = false;
    this.direct?.release();
    this.idle.stop();
    this.#detached = true;
    socket.destroy();
    return fd;
  }

  /** Closes after pending writes are flushed. */
  close(): void {
    if (this.#closed) return;
    if (this.#detached) {
      this.#markClosed();
      return;
    }
    const socket = this.socket;
    // Compressed output still in the deflater goes out before the end.
    if (this.layer) void this.layer.drained().then(() => socket.end());
    else socket.end();
    // A peer that never reads must not keep us open: destroy after a grace period.
    setTimeout(() => this.socket.destroy(), 5000).unref?.();
    this.#markClosed();
  }

  destroy(): void {
    if (this.#detached) {
      this.#markClosed();
      return;
    }
    this.layer?.destroy();
    this.socket.destroy();
    this.#markClosed();
  }

  onClose(handler: () => void): void {
    if (this.#closed) handler();
    else this.#closeHandlers.push(handler);
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.eof = true;
    this.direct?.release(); // before the runtime closes the socket (socket_write.ts)
    this.idle.stop();
    for (const h of this.#closeHandlers.splice(0)) h();
    this.outputDrained();
    this.wake();
  }

  /**
   * Calls `onIdle` after `seconds` without input (0: never); each received byte, and
   * each reply taken by a client that reads them, restarts the wait (idle_timer.ts).
   */
  setIdleTimeout(seconds: number, onIdle: () => void): void {
    this.idle.start(seconds, onIdle);
  }
}

/** node:net reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
