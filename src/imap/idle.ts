/**
 * IDLE (RFC 2177, RFC 9051 §6.3.13): after "+ idling" the server sends untagged
 * updates as they happen — at once for deliveries and changes made in this process
 * (MailStore.watch), and by polling the Maildir for other software — until the
 * client sends DONE.
 */
import { LineTooLongError } from "../net/connection.ts";
import { bad } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";

/** How often an idling session looks for changes made outside this process. */
const POLL_MS = 3000;

const idleCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    args.end();
    await s.sendUpdates(true, true);
    await s.sendSearchUpdates();
    s.out.text("+ idling\r\n");
    await s.out.flush();
    let wake: (() => void) | null = null;
    let woken = false;
    const signal = () => {
      woken = true;
      wake?.();
    };
    const view = s.view;
    if (view) view.onChange = signal;
    // RFC 5465 §4: NOTIFY's news is sent during IDLE as it happens.
    const notifier = s.notifier;
    if (notifier) notifier.wake = signal;
    const poll = setInterval(signal, POLL_MS);
    s.idling = true;
    const done = s.conn.readLine(1024).then(
      (line) => ({ line, error: null }),
      (error: unknown) => ({ line: null, error }),
    );
    let finished: { line: { line: Uint8Array } | null; error: unknown } | null = null;
    void done.then((r) => {
      finished = r;
      wake?.();
    });
    try {
      while (!finished) {
        if (!woken) await new Promise<void>((r) => (wake = r));
        wake = null;
        if (woken && !finished) {
          woken = false;
          // Expunges may be sent during IDLE (RFC 2177: it is a command in progress).
          if (notifier && s.notifier === notifier) await notifier.deliver("idle");
          else {
            await s.sendUpdates(true, false);
            await s.sendSearchUpdates();
          }
          await s.out.flush();
        }
      }
    } finally {
      clearInterval(poll);
      if (view) view.onChange = null;
      if (notifier) notifier.wake = null;
      s.idling = false;
    }
    const r = finished as { line: { line: Uint8Array } | null; error: unknown };
    if (r.error) {
      if (r.error instanceof LineTooLongError) throw bad("Expected DONE");
      throw r.error;
    }
    if (r.line === null) {
      s.state = "logout";
      return { text: "", silent: true };
    }
    const word = new TextDecoder().decode(r.line.line).trim().toUpperCase();
    if (word !== "DONE") throw bad("Expected DONE");
    return { text: "IDLE terminated" };
  },
};

export const IDLE_COMMANDS: Record<string, CommandSpec> = {
  IDLE: idleCommand,
};
