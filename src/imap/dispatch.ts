/**
 * Running one parsed command (RFC 3501 §6, RFC 9051 §6): the UID prefix, the command
 * table's state check, the handler, and the tagged reply after the untagged updates that
 * may follow it (RFC 3501 §7: EXISTS, EXPUNGE unless after FETCH/STORE/SEARCH by sequence
 * number §7.4.1, NOTIFY's news, CONTEXT updates).
 *
 * A promise only when something had to wait (a handler that awaited, a mailbox sync,
 * NOTIFY, a flush): a FETCH of one message read in place, the commonest command of a
 * client reading mail, takes no promise and no microtask turn between its line and its
 * reply (the session awaits what this returns only when it is one).
 */
import { Args, ImapError } from "./args.ts";
import type { CommandCall, CommandSpec, Done } from "./command_table.ts";
import type { Command } from "./parser.ts";
import { expandSavedSet } from "./search_res.ts";
import type { Session } from "./session.ts";

/** Runs `cmd` in `s` and queues its responses. */
export function executeCommand(s: Session, cmd: Command): Promise<void> | undefined {
  let name = cmd.name;
  let tokens = cmd.args;
  let uid = false;
  if (name === "UID") {
    const sub = tokens[0];
    if (!sub || sub.kind !== "atom") {
      s.out.text(`${cmd.tag} BAD Missing UID command\r\n`);
      return;
    }
    name = sub.value.toUpperCase();
    tokens = tokens.slice(1);
    uid = true;
  }
  const spec = s.commands.get(name);
  if (!spec || (uid && !spec.uid)) {
    s.out.text(`${cmd.tag} BAD Unknown command ${uid ? "UID " : ""}${name.slice(0, 40)}\r\n`);
    return;
  }
  if (!spec.states.includes(s.state)) {
    const why = s.state === "notauth"
      ? "Not authenticated"
      : s.state === "auth"
      ? "No mailbox selected"
      : "Command not allowed in this state";
    s.out.text(`${cmd.tag} BAD ${why}\r\n`);
    return;
  }
  // RFC 5182: "$" as the message set is the saved search result.
  tokens = expandSavedSet(s.view, name, uid, tokens);
  const call: CommandCall = { tag: cmd.tag, name, uid, args: new Args(tokens) };
  let done;
  try {
    done = spec.run(s, call);
  } catch (e) {
    return reply(s, call, spec, failed(s, name, e));
  }
  if (done instanceof Promise) {
    return done.then(
      (d) => reply(s, call, spec, d),
      (e) => reply(s, call, spec, failed(s, name, e)),
    );
  }
  return reply(s, call, spec, done);
}

/** A handler's exception as the tagged reply it calls for. */
function failed(s: Session, name: string, e: unknown): ImapError {
  if (e instanceof ImapError) return e;
  s.log.error(`${name} failed: ${(e as Error)?.stack ?? e}`);
  return new ImapError("NO", "Internal error, see the server log", "SERVERBUG");
}

/** The tagged reply of a command, after the untagged updates due after it. */
function reply(
  s: Session,
  call: CommandCall,
  spec: CommandSpec,
  done: Done | ImapError,
): Promise<void> | undefined {
  let status = "OK";
  if (done instanceof ImapError) status = done.status;
  else if (done.silent) return;
  const text = done instanceof ImapError ? done.message : done.text;
  const code = done.code;
  const tagged = `${call.tag} ${status} ${code ? `[${code}] ` : ""}${text}\r\n`;
  if (s.state === "logout") {
    // The last answer keeps its code (a refused login's [UNAVAILABLE] before the BYE).
    s.out.text(tagged);
    return;
  }
  // Most commands change nothing another session would see: no sync, no promise.
  const expunge = !(spec.noExpunge && !call.uid);
  if (s.view?.upToDate(expunge) !== false && !s.notifier && !s.searchUpdatesDue()) {
    s.out.text(tagged);
    if (s.out.full) return s.out.flush();
    return;
  }
  return replyAfterUpdates(s, expunge, tagged);
}

async function replyAfterUpdates(s: Session, expunge: boolean, tagged: string): Promise<void> {
  try {
    if (!s.view?.upToDate(expunge)) await s.sendUpdates(expunge);
    if (s.notifier) await s.notifier.deliver("command");
    const searching = s.sendSearchUpdates();
    if (searching) await searching;
  } catch (e) {
    s.log.error(`mailbox update failed: ${(e as Error)?.stack ?? e}`);
  }
  s.out.text(tagged);
  if (s.out.full) await s.out.flush();
}
