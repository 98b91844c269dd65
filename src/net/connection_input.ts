/**
 * The input half of a Connection (connection.ts): what the socket delivered and the
 * session has not read yet, line and block reads, the waits for more input, and the ACK a
 * client waiting in the middle of a command needs (ackInput). Back-pressure (SPEC §7): on
 * server connections reads take nothing while the client does not read its replies
 * (outputBlocked, the output half's). Connection feeds it from the socket's events.
 */
import { LineBuffer, type LineResult } from "./linebuffer.ts";

/** Raised by reads when the line is longer than allowed (the rest was discarded). */
export class LineTooLongError extends Error {}

export abstract class ConnectionInput {
  protected readonly buffer = new LineBuffer();
  protected eof = false;
  protected error: Error | null = null;
  #waiter: (() => void) | null = null;
  /** The wait pending is lineWait()'s (a session loop between commands). */
  #lineWaiting = false;
  /** See onInputReady(). */
  #inputReady: (() => boolean) | null = null;
  /** Input arrived since our last write: no reply has carried its ACK yet (ackInput). */
  protected unanswered = false;
  /** The last read filled the runtime's whole read buffer (ackInput). */
  protected fullRead = false;
  /** Octets readBytes() waits for: the layer inflates up to that much, past HIGH_WATER. */
  protected wanted = 0;
  /**
   * A message transfer holding its slot reads this connection (net/bulk_input.ts): input
   * is buffered up to the pause mark for streams; otherwise to the lower one for commands.
   */
  streaming = false;

  /** `gateInput`: reads wait while the client does not read its replies (SPEC §7). */
  constructor(protected readonly gateInput: boolean) {}

  /** True while the client is not taking its replies. */
  abstract get outputBlocked(): boolean;
  /** Resolves once the replies written so far are taken (or the connection ended). */
  abstract drained(): Promise<void>;
  abstract get closed(): boolean;
  /** Resumes reading the socket (and inflating) for a wait. */
  protected abstract resumeInput(): void;
  /** Acknowledges the input received now (TCP_QUICKACK, quickack.ts). */
  protected abstract sendAck(): void;

  protected wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    this.#lineWaiting = false;
    w?.();
  }

  /**
   * A session loop that can answer commands synchronously sets `handler` (null: none).
   * When input arrives while its lineWait() is pending, handler() runs at once, inside the
   * socket's read callback, instead of the wait resolving: it answers what it can and
   * returns true to go on waiting (every complete line answered), or false to have the
   * wait resolve (its loop takes over). Why: a reply written inside the read callback
   * reaches the client before the runtime's next read of the socket, which then usually
   * finds the client's next command instead of EAGAIN, so a lock-step client costs one
   * recvfrom and no epoll_wait per command instead of two and one (strace), and no promise
   * turn (docs/performance.md, "socket layer").
   */
  onInputReady(handler: (() => boolean) | null): void {
    this.#inputReady = handler;
  }

  /** Input was buffered: the pending wait resolves, unless onInputReady's handler took it. */
  protected inputArrived(): void {
    const handler = this.#inputReady;
    const parked = this.#waiter;
    if (handler === null || !this.#lineWaiting || parked === null) {
      this.wake();
      return;
    }
    // The loop's wait is taken out while the handler runs: a command it starts may wait
    // for input of its own (a SASL exchange), and that wait must not replace the loop's.
    this.#waiter = null;
    this.#lineWaiting = false;
    if (handler() && this.#waiter === null && !this.eof) {
      this.#waiter = parked;
      this.#lineWaiting = true;
      // Every line was answered: reading goes on (the read may have paused the socket at
      // the mark for commands, connection.ts COMMAND_WATER; no wait() would resume it).
      this.resumeInput();
      return;
    }
    parked();
  }

  protected wait(): Promise<void> {
    // The waiter first: resume() may hand over buffered data at once, and a wake-up
    // with nobody waiting would leave this wait for input that already came.
    const woken = new Promise<void>((resolve) => (this.#waiter = resolve));
    this.resumeInput();
    return woken;
  }

  /** The peer finished sending (or the connection failed): nothing more will arrive. */
  get inputEnded(): boolean {
    return this.eof;
  }

  /** The socket error that ended the connection, if one did (for logs and DSNs). */
  get socketError(): Error | null {
    return this.error;
  }

  /** Bytes received but not yet read (pipelined input, or injected before STARTTLS). */
  get bufferedInput(): number {
    return this.buffer.buffered;
  }

  /**
   * True when a complete line is already buffered (a pipelined command): the next
   * readLine() returns without waiting, so replies can be batched into one write.
   */
  get hasBufferedLine(): boolean {
    return this.buffer.hasLine();
  }

  /**
   * Next line without its terminator, or null at end of input. `max` is the limit on
   * the line's length; over it, LineTooLongError after discarding the line.
   */
  async readLine(max: number): Promise<{ line: Uint8Array; bareLf: boolean } | null> {
    for (;;) {
      // Back-pressure (SPEC §7): no next command while the replies are not read.
      if (this.gateInput && this.outputBlocked) {
        await this.drained();
        continue;
      }
      const r = this.readLineNow(max);
      if (r !== undefined) return r;
      // Part of a line came: the client may hold the rest until it is acknowledged.
      if (this.buffer.buffered > 0) this.ackInput();
      this.buffer.shrinkIfEmpty(); // idle between commands: a past burst's memory goes
      await this.wait();
    }
  }

  /**
   * readLine() without waiting: the next line when one is buffered, null at end of
   * input, undefined when more input is needed (then await readLine()). Lets a session
   * loop skip a promise per command when the command is already here. Undefined too
   * while the client is not reading its replies: readLine() waits for them to drain.
   * Null once the connection is closed, even with lines still buffered. `borrow`: the
   * line is a view of the input buffer, valid only until the next await (LineBuffer).
   */
  readLineNow(
    max: number,
    borrow = false,
  ): { line: Uint8Array; bareLf: boolean } | null | undefined {
    // A connection that is gone takes no further command: nobody would get the reply.
    if (this.closed) return null;
    if (this.gateInput && this.outputBlocked) return undefined;
    const r: LineResult = this.buffer.nextLine(max, borrow);
    if (r.kind === "line") return r; // { line, bareLf } as it is: one object less per command
    if (r.kind === "toolong") throw new LineTooLongError(`line longer than ${max} octets`);
    return this.eof ? null : undefined;
  }

  /**
   * After readLineNow() gave undefined: resolves when it may give more (input came, the
   * replies drained, or the input ended). readLine()'s wait without an async function's
   * promise and frame per command, for a session loop calling readLineNow() again.
   */
  lineWait(): Promise<void> {
    if (this.gateInput && this.outputBlocked) return this.drained();
    if (this.buffer.buffered > 0) this.ackInput();
    this.buffer.shrinkIfEmpty();
    const waiting = this.wait();
    this.#lineWaiting = this.#waiter !== null;
    return waiting;
  }

  /** Exactly n bytes (IMAP literals, SMTP BDAT chunks), or null at end of input. */
  async readBytes(n: number): Promise<Uint8Array | null> {
    for (;;) {
      if (this.gateInput && this.outputBlocked) {
        await this.drained();
        continue;
      }
      const block = this.buffer.take(n);
      if (block) {
        this.wanted = 0;
        return block;
      }
      if (this.eof) return null;
      this.wanted = n;
      this.ackInput(); // in the middle of a block: see ackInput()
      await this.wait();
    }
  }

  /**
   * Streaming reads without copies (SMTP DATA, BDAT): a view of the bytes received
   * and not yet read, valid until the next await; pair it with consumeInput().
   */
  peekInput(): Uint8Array {
    return this.buffer.peek();
  }

  /** Marks the first `n` bytes of peekInput() as read. */
  consumeInput(n: number): void {
    this.buffer.consume(n);
  }

  /** Waits for more input; false at end of input (nothing more will arrive). */
  async waitForInput(): Promise<boolean> {
    if (this.eof) return false;
    this.ackInput(); // in the middle of message data: see ackInput()
    await this.wait();
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
    if (!this.unanswered || this.closed || this.fullRead) return;
    this.unanswered = false;
    this.sendAck();
  }
}

/** A session's runBuffered(): no complete command line is buffered (or replies are not read). */
export const NEEDS_INPUT = 0;
/** A session's runBuffered(): the session ends (end of input, QUIT, the connection gone). */
export const ENDED = 1;
/** What runBuffered() gives back: NEEDS_INPUT, ENDED, or the rest of a running command. */
export type CommandStep = typeof NEEDS_INPUT | typeof ENDED | Promise<void>;

/**
 * The command phase of a session (SMTP's command loop, POP3's session): `runBuffered`
 * runs the command lines already buffered as far as they complete synchronously, the
 * loop awaits what it hands back and waits for input in between; while it waits, arriving
 * input is answered inside the socket's read callback (onInputReady, where the reasons
 * are), and what cannot be finished there is handed back to the loop.
 */
export class CommandPhase {
  /**
   * The loop waits for a command line. False while commands run, also inside the read
   * callback: a shutdown meanwhile is said after them (SMTP's goodbye()).
   */
  waiting = false;
  /** Commands are being run inside the socket's read callback (answerArrived). */
  inReadCallback = false;
  /** What answerArrived left to the loop: a running command, the end, or an error. */
  #handoff: Promise<void> | typeof ENDED | Error | null = null;

  /** `endedInCallback`: the session ended inside the read callback (SMTP's QUIT). */
  constructor(
    private readonly input: ConnectionInput,
    private readonly runBuffered: () => CommandStep,
    private readonly endedInCallback: () => void = () => {},
  ) {}

  /** Runs commands until runBuffered() says ENDED (or throws). */
  async run(): Promise<void> {
    const input = this.input;
    input.onInputReady(() => this.#answerArrived());
    try {
      for (;;) {
        const step = this.runBuffered();
        if (step === ENDED) return;
        if (step !== NEEDS_INPUT) {
          await step;
          continue;
        }
        this.waiting = true;
        try {
          await input.lineWait();
        } finally {
          this.waiting = false;
        }
        // What the read callback started and could not finish is the loop's now.
        const handoff = this.#handoff;
        this.#handoff = null;
        if (handoff === ENDED) return;
        if (handoff instanceof Error) throw handoff;
        if (handoff !== null) await handoff;
      }
    } finally {
      input.onInputReady(null);
    }
  }

  /**
   * Input arrived while the loop waits for a command: the commands are run here, in the
   * read callback. True when all were answered and the loop goes on waiting; false hands
   * the rest to the loop (a command still running, a partial line to acknowledge, a
   * client not reading, the end, an error).
   */
  #answerArrived(): boolean {
    if (!this.waiting || this.#handoff !== null) return false;
    this.waiting = false;
    let step: CommandStep;
    this.inReadCallback = true;
    try {
      step = this.runBuffered();
    } catch (e) {
      this.#handoff = e instanceof Error ? e : new Error(String(e));
      return false;
    } finally {
      this.inReadCallback = false;
    }
    if (step === NEEDS_INPUT) {
      if (this.input.outputBlocked || this.input.bufferedInput > 0) return false;
      this.waiting = true;
      return true;
    }
    this.#handoff = step;
    if (step === ENDED) this.endedInCallback();
    return false;
  }
}
