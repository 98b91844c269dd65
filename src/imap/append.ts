/**
 * APPEND (RFC 3501 §6.3.11, RFC 9051 §6.3.12) with flags and internal date,
 * APPENDUID (RFC 4315 §3), the UTF8 form (RFC 6855 §4), [TRYCREATE] for a missing
 * mailbox and [OVERQUOTA] past the user's quota (SPEC §5). The literal itself
 * (`{n}`, LITERAL+ `{n+}`, size limit MaxMailSize) is handled by the parser.
 */
import { FlagError } from "../store/folder/folder.ts";
import { FLAG_LETTERS } from "../store/maildir_names.ts";
import { bad, mailboxName, no, parseDateTime, parseFlagList, tokenText } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import { checkQuota } from "./commands_store.ts";
import { appendData } from "./literal_file.ts";
import { markRecent } from "./recent.ts";
import { requireTarget } from "./store_calls.ts";

const appendCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = mailboxName(args.astring("mailbox name"), s.utf8);
    let flags: string[] = [];
    let date: number | undefined;
    if (args.peek()?.kind === "list") flags = parseFlagList(args.list("flag list"), true);
    const t = args.peek();
    if (t && t.kind === "string" && !t.literal) {
      date = parseDateTime(tokenText(args.take("date"), "date"));
    }
    let msg = args.take("message literal");
    if (msg.kind === "atom" && msg.value.toUpperCase() === "UTF8") {
      // RFC 6855 §4: APPEND ... UTF8 (~{n}...)
      const inner = args.list("UTF8 message");
      if (inner.length !== 1) throw bad("UTF8 expects one literal");
      msg = inner[0];
    }
    args.end();
    // A large message literal arrives as a file (literal_file.ts), linked in as it is.
    const data = appendData(msg);
    if (!data) throw bad("Expected the message as a literal");
    const size = data instanceof Uint8Array ? data.length : data.size;
    if (size === 0) throw no("Cannot store an empty message", "CANNOT");
    const store = s.ctx.store;
    await requireTarget(s, name);
    await checkQuota(s, size);
    // System flags map to fixed letters; keywords need the folder's keyword table.
    let letters = flags.map((f) => FLAG_LETTERS[f] ?? "").join("");
    if (flags.some((f) => !f.startsWith("\\"))) {
      const folder = await store.openFolder(s.root, name);
      if (!folder) throw no("Mailbox doesn't exist", "TRYCREATE");
      try {
        letters = await folder.lettersFor(flags);
      } catch (e) {
        if (e instanceof FlagError) throw no(e.message, "LIMIT");
        throw e;
      }
    }
    const { uid, uidValidity } = await store.append(s.root, name, data, {
      flags: letters,
      internalDate: date,
    });
    markRecent(store.folderPath(s.root, name), [uid]);
    return { text: "APPEND completed", code: `APPENDUID ${uidValidity} ${uid}` };
  },
};

export const APPEND_COMMANDS: Record<string, CommandSpec> = {
  APPEND: appendCommand,
};
