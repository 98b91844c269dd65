/**
 * Postfix's own load generator, smtp-source(1) from Debian's postfix package, for
 * bench:peers: one new connection per message (HELO, MAIL, RCPT, DATA, QUIT), as most
 * MX traffic arrives, unlike smtp_ingest.py's many messages per connection. It prints
 * no figures, so the rate is the messages sent over the wall time of the run, and the
 * result is given the shape of the Python generators' output (`smtp_source: R msg/s`).
 */
import { type ProcResult, run } from "./proc.ts";

export const SMTP_SOURCE = "/usr/sbin/smtp-source";

export interface SmtpSourceRun {
  port: number;
  /** Parallel sessions (-s). */
  sessions: number;
  /** Messages in all (-m), each over its own connection. */
  messages: number;
  /** Payload octets per message (-l), headers not counted. */
  size: number;
  from: string;
  to: string;
  timeoutMs?: number;
}

/** Runs smtp-source against 127.0.0.1:port; stdout ends with `smtp_source: R msg/s`. */
export async function runSmtpSource(o: SmtpSourceRun): Promise<ProcResult> {
  const args = [
    "-s",
    String(o.sessions),
    "-l",
    String(o.size),
    "-m",
    String(o.messages),
    "-f",
    o.from,
    "-t",
    o.to,
    `127.0.0.1:${o.port}`,
  ];
  const t0 = performance.now();
  const r = await run(SMTP_SOURCE, args, { timeoutMs: o.timeoutMs ?? 900_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) return r;
  const rate = o.messages / seconds;
  const stdout = `${SMTP_SOURCE} ${args.join(" ")}\n` +
    `sent ${o.messages} messages over ${o.messages} connections in ${seconds.toFixed(3)} s\n` +
    `smtp_source: ${rate.toFixed(1)} msg/s\n`;
  return { ...r, stdout: r.stdout + stdout };
}
