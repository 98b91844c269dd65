/**
 * APPEND (RFC 3501 §6.3.11, RFC 9051 §6.3.12) with flags and internal date, APPENDUID
 * (RFC 4315 §3), several messages in one command (MULTIAPPEND, RFC 3502: stored all or
 * none, APPENDUID with a UID set), messages put together from parts (CATENATE, RFC
 * 4469, catenate.ts), literal8 `~{n}` (BINARY, RFC 3516 §4.4: data with NUL octets), the
 * UTF8 form (RFC 6855 §4), [TRYCREATE] for a missing mailbox and [OVERQUOTA] past the
 * user's quota (SPEC §5). The literals themselves (`{n}`, `{n+}`, `~{n}`, MaxMailSize)
 * are read by the parser.
 */
import type { MessageContent } from "../store/content.ts";
import { FlagError } from "../store/folder/folder.ts";
import { FLAG_LETTERS } from "../store/maildir_names.ts";
import { appendAtomically } from "../store/multi_append.ts";
import type { Args } from "./args.ts";
import {
  bad,
  formatSet,
  mailboxName,
  no,
  parseDateTime,
  parseFlagList,
  tokenText,
} from "./args.ts";
import { toCrlf } from "../message/line_endings.ts";
import { catenate } from "./catenate.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import { checkQuota } from "./commands_store.ts";
import { appendData } from "./literal_file.ts";
import { markRecent } from "./recent.ts";
import type { Session } from "./session.ts";
import { requireTarget, storeCall } from "./store_calls.ts";

interface Parsed {
  flags: string[];
  date?: number;
  /** In memory, or (a large literal) the file it was read into (literal_file.ts). */
  data: Uint8Array | MessageContent;
}

const sizeOf = (data: Uint8Array | MessageContent) =>
  data instanceof Uint8Array ? data.length : data.size;

/** One append-message (RFC 4466 §2.3, RFC 4469 §5): [flags] [date] (literal / CATENATE / UTF8). */
async function nextMessage(s: Session, args: Args): Promise<Parsed> {
  let flags: string[] = [];
  let date: number | undefined;
  if (args.peek()?.kind === "list") flags = parseFlagList(args.list("flag list"), true);
  const t = args.peek();
  if (t && t.kind === "string" && !t.literal) {
    date = parseDateTime(tokenText(args.take("date"), "date"));
  }
  let msg = args.take("message literal");
  if (msg.kind === "atom") {
    const word = msg.value.toUpperCase();
    if (word === "CATENATE") {
      return { flags, date, data: toCrlf(await catenate(s, args.list("CATENATE parts"))) };
    }
    if (word !== "UTF8") throw bad(`Expected the message as a literal, not ${word.slice(0, 20)}`);
    // RFC 6855 §4: APPEND ... UTF8 (~{n}...)
    const inner = args.list("UTF8 message");
    if (inner.length !== 1) throw bad("UTF8 expects one literal");
    msg = inner[0];
  }
  if (msg.kind === "string" && !msg.literal) throw bad("Expected the message as a literal");
  // A large message literal arrives as a file, linked in as it is.
  const data = appendData(msg);
  if (!data) throw bad("Expected the message as a literal");
  return { flags, date, data };
}

const appendCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = mailboxName(args.astring("mailbox name"), s.utf8);
    // Every message is read (and each CATENATE resolved) before anything is stored.
    const messages: Parsed[] = [];
    do messages.push(await nextMessage(s, args)); while (args.more);
    for (const m of messages) {
      if (sizeOf(m.data) === 0) throw no("Cannot store an empty message", "CANNOT");
    }
    const store = s.ctx.store;
    await requireTarget(s, name);
    await checkQuota(s, messages.reduce((n, m) => n + sizeOf(m.data), 0));
    // System flags map to fixed letters; keywords need the folder's keyword table.
    const letters = messages.map((m) => m.flags.map((f) => FLAG_LETTERS[f] ?? "").join(""));
    if (messages.some((m) => m.flags.some((f) => !f.startsWith("\\")))) {
      const folder = await store.openFolder(s.root, name);
      if (!folder) throw no("Mailbox doesn't exist", "TRYCREATE");
      try {
        for (let i = 0; i < messages.length; i++) {
          letters[i] = await folder.lettersFor(messages[i].flags);
        }
      } catch (e) {
        if (e instanceof FlagError) throw no(e.message, "LIMIT");
        throw e;
      }
    }
    if (messages.length === 1) {
      const { uid, uidValidity } = await storeCall(() =>
        store.append(s.root, name, messages[0].data, {
          flags: letters[0],
          internalDate: messages[0].date,
        })
      );
      markRecent(store.folderPath(s.root, name), [uid]);
      return { text: "APPEND completed", code: `APPENDUID ${uidValidity} ${uid}` };
    }
    // RFC 3502 §3: all messages or none, with one UID set (RFC 4315 §3).
    const { uidValidity, uids } = await storeCall(() =>
      appendAtomically(
        store,
        s.root,
        name,
        messages.map((m, i) => ({ data: m.data, flags: letters[i], internalDate: m.date })),
      )
    );
    markRecent(store.folderPath(s.root, name), uids);
    return { text: "APPEND completed", code: `APPENDUID ${uidValidity} ${formatSet(uids)}` };
  },
};

export const APPEND_COMMANDS: Record<string, CommandSpec> = {
  APPEND: appendCommand,
};
