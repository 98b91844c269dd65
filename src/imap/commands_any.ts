/**
 * Commands valid in any state (RFC 3501 §6.1, RFC 9051 §6.1) and the session-wide
 * extensions: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161),
 * NAMESPACE (RFC 2342).
 */
import { VERSION } from "../version.ts";
import { bad, tokenText } from "./args.ts";
import { ANY, AUTHED, type CommandSpec } from "./command_table.ts";
import { quoted } from "./wire.ts";

const capabilityCommand: CommandSpec = {
  states: ANY,
  run(s, { args }) {
    args.end();
    s.out.text(`* CAPABILITY ${s.capabilities()}\r\n`);
    return Promise.resolve({ text: "Capability completed" });
  },
};

// RFC 3501 §6.1.2: NOOP is the polling command; look at the Maildir now.
const noopCommand: CommandSpec = {
  states: ANY,
  async run(s, { args }) {
    args.end();
    await s.sendUpdates(true, true);
    return { text: "NOOP completed" };
  },
};

const logoutCommand: CommandSpec = {
  states: ANY,
  run(s, { args }) {
    args.end();
    s.out.text("* BYE eXtremail logging out\r\n");
    s.state = "logout";
    return Promise.resolve({ text: "Logout completed" });
  },
};

// RFC 2971: the client's ID is logged; ours is sent back.
const idCommand: CommandSpec = {
  states: ANY,
  run(s, { args }) {
    const t = args.take("ID parameters");
    args.end();
    if (t.kind === "list") {
      if (t.items.length % 2 !== 0 || t.items.length > 60) throw bad("Invalid ID parameter list");
      const pairs: string[] = [];
      for (let i = 0; i < t.items.length; i += 2) {
        // Values are nstrings; an atom NIL and the text "NIL" log the same.
        const k = tokenText(t.items[i], "ID field");
        const v = tokenText(t.items[i + 1], "ID value");
        pairs.push(`${k}=${v}`.slice(0, 200));
      }
      s.log.info(`client id: ${pairs.join(" ")}`);
    } else if (!(t.kind === "atom" && t.value.toUpperCase() === "NIL")) {
      throw bad("ID expects a list or NIL");
    }
    s.out.text(
      `* ID (${quoted("name")} ${quoted("eXtremail")} ${quoted("version")} ${quoted(VERSION)})\r\n`,
    );
    return Promise.resolve({ text: "ID completed" });
  },
};

// RFC 5161 ENABLE; RFC 9051 §6.3.1 IMAP4rev2; RFC 6855 UTF8=ACCEPT; RFC 7162 CONDSTORE, QRESYNC.
const enableCommand: CommandSpec = {
  states: AUTHED,
  run(s, { args }) {
    if (!args.more) throw bad("ENABLE needs at least one capability");
    const enabled: string[] = [];
    while (args.more) {
      const cap = args.atom("capability").toUpperCase();
      if (cap === "IMAP4REV2" && !s.rev2) {
        s.rev2 = true;
        s.utf8 = true;
        enabled.push("IMAP4rev2");
      } else if (cap === "UTF8=ACCEPT" && !enabled.includes("UTF8=ACCEPT")) {
        s.utf8 = true;
        enabled.push("UTF8=ACCEPT");
      } else if (cap === "CONDSTORE" && !enabled.includes("CONDSTORE")) {
        // RFC 7162 §3.1: ENABLE CONDSTORE is a CONDSTORE enabling command.
        s.enableCondstore();
        enabled.push("CONDSTORE");
      } else if (cap === "QRESYNC" && !s.qresync) {
        // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
        s.enableCondstore();
        s.qresync = true;
        enabled.push("QRESYNC");
      }
    }
    s.out.text(`* ENABLED${enabled.map((c) => " " + c).join("")}\r\n`);
    return Promise.resolve({ text: "ENABLE completed" });
  },
};

// RFC 2342: one personal namespace, no prefix, "/" delimiter (SPEC §5).
const namespaceCommand: CommandSpec = {
  states: AUTHED,
  run(s, { args }) {
    args.end();
    s.out.text(`* NAMESPACE (("" "/")) NIL NIL\r\n`);
    return Promise.resolve({ text: "NAMESPACE completed" });
  },
};

export const ANY_STATE_COMMANDS: Record<string, CommandSpec> = {
  CAPABILITY: capabilityCommand,
  NOOP: noopCommand,
  LOGOUT: logoutCommand,
  ID: idCommand,
  ENABLE: enableCommand,
  NAMESPACE: namespaceCommand,
};
