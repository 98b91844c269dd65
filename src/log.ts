/**
 * Logging (@logtape/logtape): one line per event, to stderr or LogFile, in one of two
 * formats (LogFormat, SPEC §10):
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
 */
import {
  configure,
  getLogger,
  type Logger,
  type LogLevel as TapeLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import type { Config } from "./config/schema.ts";
import { escapeControls } from "./message/controls.ts";

const LEVELS: Record<Config["LogLevel"], TapeLevel> = {
  debug: "debug",
  info: "info",
  warning: "warning",
  error: "error",
};

/** The levels of LogLevel, as JSON lines name them ("fatal" counts as an error). */
const JSON_LEVELS: Record<TapeLevel, string> = {
  trace: "debug",
  debug: "debug",
  info: "info",
  warning: "warning",
  error: "error",
  fatal: "error",
};

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

/** Records a session's peer address until it closes (server.ts, for every connection). */
export function trackSession(conn: TrackedConnection): void {
  sessions.set(conn.id, { client: conn.remoteAddress });
  conn.onClose(() => {
    // The lines a session writes while it winds down ("session closed") still get them.
    const timer = setTimeout(() => sessions.delete(conn.id), 10_000);
    Deno.unrefTimer(timer);
  });
}

/** The session has logged in as `user` (user@domain): later JSON lines carry it. */
export function sessionUser(sid: string, user: string): void {
  const fields = sessions.get(sid);
  if (fields) fields.user = user;
}

/** The queue id a line is about: queue and delivery lines begin with `<ID>: `. */
const QUEUE_ID_PREFIX = /^([0-9A-HJKMNP-TV-Z]{14}):/;

function messageText(record: LogRecord): string {
  let msg = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    msg += i % 2 === 0 ? String(part) : typeof part === "string" ? part : JSON.stringify(part);
  }
  // One event, one line, and no terminal escape sequences: every control character of
  // client input (and of anything else) is written as text, e.g. `\x1b`, `\r\n`.
  return escapeControls(msg);
}

function formatText(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  const sid = record.properties.sid ? ` [${record.properties.sid}]` : "";
  return `${time} ${record.level.toUpperCase()} ${serviceOf(record)}${sid} ${
    messageText(record)
  }\n`;
}

function serviceOf(record: LogRecord): string {
  return record.category.slice(1).join(".");
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

function formatJson(record: LogRecord): string {
  const sid = record.properties.sid;
  return jsonLine({
    time: record.timestamp,
    level: JSON_LEVELS[record.level],
    service: serviceOf(record),
    session: typeof sid === "string" ? sid : null,
    message: messageText(record),
  }, record.properties);
}

let fileHandle: Deno.FsFile | null = null;
let format: Config["LogFormat"] = "text";
const encoder = new TextEncoder();
/** Writes one formatted line where the log goes (stderr or LogFile). */
let writeLine: (line: string) => void = (line) => Deno.stderr.writeSync(encoder.encode(line));

function makeSink(logFile: string): Sink {
  if (!logFile) {
    writeLine = (line) => Deno.stderr.writeSync(encoder.encode(line));
  } else {
    fileHandle?.close();
    fileHandle = Deno.openSync(logFile, { append: true, create: true, mode: 0o640 });
    const file = fileHandle;
    writeLine = (line) => file.writeSync(encoder.encode(line));
  }
  return (record) => writeLine(format === "json" ? formatJson(record) : formatText(record));
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
  );
}

/** (Re)configures logging from LogLevel, LogFile and LogFormat; safe to call on RELOAD. */
export async function setupLogging(
  config: Pick<Config, "LogLevel" | "LogFile"> & Partial<Pick<Config, "LogFormat">>,
): Promise<void> {
  await reset();
  format = config.LogFormat ?? "text";
  await configure({
    sinks: { main: makeSink(config.LogFile) },
    loggers: [
      { category: ["extremail"], lowestLevel: LEVELS[config.LogLevel], sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** A logger for a component (`log("smtp")`), optionally bound to a session id. */
export function log(component: string, sid?: string): Logger {
  const logger = getLogger(["extremail", component]);
  return sid ? logger.with({ sid }) : logger;
}

export type { Logger };
