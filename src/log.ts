/**
 * Logging (@logtape/logtape): one line per event, `time level category [sid] message`,
 * to stderr or LogFile. Session ids come from Connection.id so every line of one
 * client session can be grepped together.
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

const LEVELS: Record<Config["LogLevel"], TapeLevel> = {
  debug: "debug",
  info: "info",
  warning: "warning",
  error: "error",
};

function formatRecord(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  const sid = record.properties.sid ? ` [${record.properties.sid}]` : "";
  let msg = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    msg += i % 2 === 0 ? String(part) : typeof part === "string" ? part : JSON.stringify(part);
  }
  // One event, one line: newlines from client input never split a log line.
  msg = msg.replace(/[\r\n]+/g, " ");
  return `${time} ${record.level.toUpperCase()} ${
    record.category.slice(1).join(".")
  }${sid} ${msg}\n`;
}

let fileHandle: Deno.FsFile | null = null;
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
  return (record) => writeLine(formatRecord(record));
}

/**
 * A warning that is logged whatever LogLevel says: the generated admin password
 * (SPEC §2) is shown once, and a LogLevel of "error" must not swallow it.
 */
export function logAlways(component: string, message: string): void {
  writeLine(
    `${new Date().toISOString()} WARNING ${component} ${message.replace(/[\r\n]+/g, " ")}\n`,
  );
}

/** (Re)configures logging from LogLevel and LogFile; safe to call again on RELOAD. */
export async function setupLogging(config: Pick<Config, "LogLevel" | "LogFile">): Promise<void> {
  await reset();
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
