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

function makeSink(logFile: string): Sink {
  const encoder = new TextEncoder();
  if (!logFile) {
    return (record) => {
      Deno.stderr.writeSync(encoder.encode(formatRecord(record)));
    };
  }
  fileHandle?.close();
  fileHandle = Deno.openSync(logFile, { append: true, create: true, mode: 0o640 });
  const file = fileHandle;
  return (record) => {
    file.writeSync(encoder.encode(formatRecord(record)));
  };
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
