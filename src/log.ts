/**
 * Logging: one line per event, to stderr or LogFile, in one of two formats (LogFormat,
 * SPEC §10):
 *
 * - `text`: `time LEVEL service [session] message`
 * - `json`: one JSON object per line with the stable fields of docs/operations.md:
 *   `time`, `level`, `service`, `session`, `message`, and where known `client` (the
 *   session's peer address), `user` (after a login), `queueId` (lines about a queued
 *   message) and any structured properties a call site passes.
 *
 * Session ids come from Connection.id so every line of one client session can be grepped
 * together. The peer address and login of a session are recorded once here
 * (`trackSession`, `sessionUser`) and added to each JSON line of that session.
 *
 * Cost matters: a busy MX logs four lines per message. A line below LogLevel costs a
 * comparison; a line logged is formatted here directly (the general-purpose @logtape
 * library this replaced spent 20-50 us per line on contexts, filters and records), and
 * lines are written together, one write at most every LOG_BATCH_MS. Warnings and errors
 * are written at once, and whatever is pending is written before the process exits.
 */
import type { Config } from "./config/schema.ts";
import { escapeControls } from "./message/controls.ts";

/** The levels a line can have; LogLevel names the lowest one written. */
export type Level = Config["LogLevel"];
const RANK: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };
/** Until setupLogging runs, nothing is written (tests and tools that do not log). */
const SILENT = 4;
let lowest = SILENT;

/** What is known about an open session, for the JSON fields client and user. */
interface SessionFields {
  client: string;
  user?: string;
}
const sessions = new Map<string, SessionFields>();

/** A connection's session: its id, peer address and a way to hear that it closed. */
export interface TrackedConnection {
  id: string;
  remoteAddress: string;
  onClose(fn: () => void): void;
}

/**
 * Sessions closed in this period and in the one before: their fields stay 10-20 s, so the
 * lines a session writes while it winds down ("session closed") still get them. One timer
 * for all, not one per connection.
 */
let closedNow: string[] = [];
let closedBefore: string[] = [];
let sweeper: ReturnType<typeof setInterval> | undefined;
const SWEEP_MS = 10_000;

function sweep(): void {
  for (const id of closedBefore) sessions.delete(id);
  closedBefore = closedNow;
  closedNow = [];
  if (closedBefore.length === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** Records a session's peer address until it closes (server.ts, for every connection). */
export function trackSession(conn: TrackedConnection): void {
  sessions.set(conn.id, { client: conn.remoteAddress });
  conn.onClose(() => {
    closedNow.push(conn.id);
    if (sweeper === undefined) {
      const timer = sweeper = setInterval(sweep, SWEEP_MS);
      Deno.unrefTimer(timer);
    }
  });
}

/** The session has logged in as `user` (user@domain): later JSON lines carry it. */
export function sessionUser(sid: string, user: string): void {
  const fields = sessions.get(sid);
  if (fields) fields.user = user;
}

/** The queue id a line is about: queue and delivery lines begin with `<ID>: `. */
const QUEUE_ID_PREFIX = /^([0-9A-HJKMNP-TV-Z]{14}):/;

/**
 * A template's text: strings as they are, other values as JSON (as before). A finite
 * number's JSON is its String() (ECMA-262 SerializeJSONProperty), which costs less.
 */
function templateText(strings: TemplateStringsArray, values: unknown[]): string {
  let msg = strings[0];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    msg += (typeof v === "string"
      ? v
      : typeof v === "number" && Number.isFinite(v)
      ? String(v)
      : JSON.stringify(v)) + strings[i + 1];
  }
  return msg;
}

/** The ISO time of the last line and its millisecond: lines of one burst share it. */
let isoMs = -1;
let isoText = "";
/**
 * toISOString() of the current second up to its "." (`2026-12-07T04:30:15.`): a line in
 * another millisecond of the same second (most lines at one connection per message, a
 * few per millisecond) appends the three digits instead of formatting a Date.
 */
let isoSecond = -1;
let isoSecondText = "";

function isoNow(): string {
  return isoTime(Date.now());
}

/** `new Date(now).toISOString()`, reusing the text of the second before (exported for tests). */
export function isoTime(now: number): string {
  if (now !== isoMs) {
    isoMs = now;
    const ms = now % 1000;
    const second = now - ms;
    if (second !== isoSecond || now < 0) {
      isoText = new Date(now).toISOString();
      isoSecond = second;
      isoSecondText = isoText.slice(0, -4);
    } else {
      isoText = `${isoSecondText}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
    }
  }
  return isoText;
}

function formatText(level: Level, service: string, sid: string | null, message: string): string {
  const time = isoNow();
  return `${time} ${level.toUpperCase()} ${service}${sid ? ` [${sid}]` : ""} ${message}\n`;
}

/** Field names a call site's properties may not overwrite. */
const FIXED_FIELDS = new Set(["time", "level", "service", "session", "message"]);

/** One JSON object per line; field names are documented in docs/operations.md. */
export function jsonLine(
  fields: {
    time: number;
    level: string;
    service: string;
    session: string | null;
    message: string;
  },
  extra: Record<string, unknown> = {},
): string {
  const line: Record<string, unknown> = { ...fields };
  const session = fields.session ? sessions.get(fields.session) : undefined;
  if (session) {
    line.client = session.client;
    if (session.user) line.user = session.user;
  }
  const queueId = QUEUE_ID_PREFIX.exec(fields.message)?.[1];
  if (queueId) line.queueId = queueId;
  for (const [key, value] of Object.entries(extra)) {
    if (!FIXED_FIELDS.has(key) && key !== "sid") line[key] = value;
  }
  line.time = new Date(fields.time).toISOString();
  // JSON escapes C0 itself, but not C1 controls or U+2028: properties get the same escaping.
  return JSON.stringify(
    line,
    (_key, value) => typeof value === "string" ? escapeControls(value) : value,
  ) + "\n";
}

let fileHandle: Deno.FsFile | null = null;
let format: Config["LogFormat"] = "text";
const encoder = new TextEncoder();
let out: Deno.FsFile | typeof Deno.stderr = Deno.stderr;
/**
 * Lines wait at most this long to be written together: at a few connections at once, a
 * write per turn of the event loop was a write(2) and a timer for about every line (four
 * per message at LogLevel info, ~10 µs each, docs/performance.md). Warnings and errors
 * are written at once, with whatever is pending before them.
 */
export const LOG_BATCH_MS = 10;
/** ...or until this many characters are pending. */
const LOG_BATCH_CHARS = 32 * 1024;
/** Lines formatted and not written yet (written within LOG_BATCH_MS). */
let pending: string[] = [];
let pendingChars = 0;
let flushTimer: ReturnType<typeof setTimeout> | undefined;

/** Writes the pending lines (one write call, or a few for a pipe that takes part). */
export function flushLog(): void {
  if (flushTimer !== undefined) clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending.length === 0) return;
  const bytes = encoder.encode(pending.length === 1 ? pending[0] : pending.join(""));
  pending = [];
  pendingChars = 0;
  try {
    for (let off = 0; off < bytes.length;) off += out.writeSync(bytes.subarray(off));
  } catch { /* the log itself is gone: nothing to tell it */ }
}

function flushOnTimer(): void {
  flushTimer = undefined;
  flushLog();
}

function writeLine(line: string, now: boolean): void {
  pending.push(line);
  pendingChars += line.length;
  if (now || pendingChars >= LOG_BATCH_CHARS) flushLog();
  else if (flushTimer === undefined) {
    const timer = flushTimer = setTimeout(flushOnTimer, LOG_BATCH_MS);
    Deno.unrefTimer(timer);
  }
}

globalThis.addEventListener("unload", flushLog);

/**
 * Set in a worker thread whose lines the main thread writes (pop3/loop_worker.ts): each
 * line goes there as it is, and the main thread formats it (emitForwarded).
 */
let forward:
  | ((
    level: Level,
    service: string,
    props: Readonly<Record<string, unknown>>,
    text: string,
  ) => void)
  | null = null;

/** In a worker thread: lines at `level` and above go to `sink` instead of a file. */
export function forwardLogging(level: Level, sink: NonNullable<typeof forward>): void {
  forward = sink;
  lowest = RANK[level];
}

/** A line a worker thread forwarded (forwardLogging), written as if logged here. */
export function emitForwarded(
  level: Level,
  service: string,
  props: Readonly<Record<string, unknown>>,
  message: string,
): void {
  if (RANK[level] !== undefined && RANK[level] >= lowest) emit(level, service, props, message);
}

/** One line at `level` from `service`: formatted and queued, or dropped below LogLevel. */
function emit(
  level: Level,
  service: string,
  props: Readonly<Record<string, unknown>>,
  message: string,
): void {
  if (forward) {
    forward(level, service, props, message);
    return;
  }
  const text = escapeControls(message);
  const sid = typeof props.sid === "string" ? props.sid : null;
  writeLine(
    format === "json"
      ? jsonLine({ time: Date.now(), level, service, session: sid, message: text }, props)
      : formatText(level, service, sid, text),
    level === "warning" || level === "error",
  );
}

type Message = TemplateStringsArray | string;

/**
 * A component's logger (`log("smtp", sid)`): `info\`text ${value}\`` or `info("text")`;
 * values in a template are written as they are when strings, else as JSON.
 */
export class Logger {
  constructor(
    readonly service: string,
    readonly properties: Readonly<Record<string, unknown>> = {},
  ) {}

  isEnabledFor(level: Level): boolean {
    return RANK[level] >= lowest;
  }

  /** The same component with more properties (JSON fields; `sid` is the session). */
  with(properties: Record<string, unknown>): Logger {
    return new Logger(this.service, { ...this.properties, ...properties });
  }

  debug(message: Message, ...values: unknown[]): void {
    if (lowest <= 0) this.#log("debug", message, values);
  }

  info(message: Message, ...values: unknown[]): void {
    if (lowest <= 1) this.#log("info", message, values);
  }

  warn(message: Message, ...values: unknown[]): void {
    if (lowest <= 2) this.#log("warning", message, values);
  }

  error(message: Message, ...values: unknown[]): void {
    if (lowest <= 3) this.#log("error", message, values);
  }

  #log(level: Level, message: Message, values: unknown[]): void {
    const text = typeof message === "string" ? message : templateText(message, values);
    emit(level, this.service, this.properties, text);
  }
}

/**
 * A warning that is logged whatever LogLevel says: the generated admin password
 * (SPEC §2) is shown once, and a LogLevel of "error" must not swallow it.
 */
export function logAlways(component: string, message: string): void {
  const text = escapeControls(message);
  writeLine(
    format === "json"
      ? jsonLine({
        time: Date.now(),
        level: "warning",
        service: component,
        session: null,
        message: text,
      })
      : `${new Date().toISOString()} WARNING ${component} ${text}\n`,
    true,
  );
}

/** (Re)configures logging from LogLevel, LogFile and LogFormat; safe to call on RELOAD. */
export function setupLogging(
  config: Pick<Config, "LogLevel" | "LogFile"> & Partial<Pick<Config, "LogFormat">>,
): Promise<void> {
  flushLog();
  const previous = fileHandle;
  fileHandle = config.LogFile
    ? Deno.openSync(config.LogFile, { append: true, create: true, mode: 0o640 })
    : null;
  out = fileHandle ?? Deno.stderr;
  previous?.close();
  format = config.LogFormat ?? "text";
  lowest = RANK[config.LogLevel];
  return Promise.resolve();
}

/** A logger for a component (`log("smtp")`), optionally bound to a session id. */
export function log(component: string, sid?: string): Logger {
  return new Logger(component, sid ? { sid } : {});
}
