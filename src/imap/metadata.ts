/**
 * METADATA and METADATA-SERVER (RFC 5464): GETMETADATA with MAXSIZE and DEPTH (§4.2),
 * SETMETADATA (§4.3) for server entries (mailbox "") and mailbox entries, /private and
 * /shared. Kept per user by metadata_store.ts. Besides what clients set, the server
 * answers /shared/admin (§3.2.1.1: where to reach the administrator) and
 * /private/specialuse of the built-in folders (RFC 6154 §4). Changes are announced to
 * the user's other sessions (NOTIFY MailboxMetadataChange / ServerMetadataChange).
 */
import { bad, type ImapError, mailboxName, no, parseNumber, tokenText, wireName } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import { type Entries, MetadataLimitError, MetadataStore } from "./metadata_store.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import {
  BUILTIN_SPECIAL_USE,
  checkUseAttrs,
  parseUseValue,
  SPECIAL_USE_ENTRY,
} from "./special_use.ts";
import { openFolderOrFail } from "./status.ts";
import { string } from "./wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * An entry name (RFC 5464 §3.2, §5 "entry"): /private or /shared followed by
 * "/"-separated components of printable ASCII, no wildcards, no empty component.
 */
export function checkEntry(raw: string): string {
  const ok = /^\/(private|shared)(\/[\x21-\x7e]+)*$/i.test(raw) && raw.length <= 1024 &&
    !/[*%]/.test(raw) && !raw.includes("//") && !raw.endsWith("/");
  if (!ok) throw bad(`Invalid metadata entry name ${raw.slice(0, 60)}`);
  // §3.2: entry names are case-insensitive; they are kept in lower case.
  return raw.toLowerCase();
}

/** "" for the server, else the mailbox's name (it must exist). */
async function scopeOf(s: Session, raw: string): Promise<string> {
  if (raw === "") return "";
  const name = mailboxName(raw, s.utf8);
  await openFolderOrFail(s, name);
  return name;
}

/** Entries the server provides itself, for a scope. */
function serverProvided(s: Session, scope: string): Entries {
  const out: Entries = new Map();
  if (scope === "") {
    out.set("/shared/admin", enc.encode(`mailto:postmaster@${s.user!.domain}`));
  } else if (!scope.includes("/") && BUILTIN_SPECIAL_USE[scope]) {
    out.set(SPECIAL_USE_ENTRY, enc.encode(BUILTIN_SPECIAL_USE[scope]));
  }
  return out;
}

/** A value as an IMAP string: quoted when short ASCII text, a literal (literal8 with NUL). */
function valueText(v: Uint8Array): string | Uint8Array {
  const text = dec.decode(v);
  if (!v.includes(0) && /^[\x20-\x7e]*$/.test(text)) return string(text);
  const head = enc.encode(`${v.includes(0) ? "~" : ""}{${v.length}}\r\n`);
  const out = new Uint8Array(head.length + v.length);
  out.set(head);
  out.set(v, head.length);
  return out;
}

function parseGetOptions(items: Token[]): { maxSize: number | null; depth: number } {
  let maxSize: number | null = null;
  let depth = 0;
  for (let i = 0; i < items.length; i += 2) {
    const name = items[i].kind === "atom"
      ? (items[i] as { value: string }).value.toUpperCase()
      : "";
    const value = items[i + 1];
    if (!value || value.kind !== "atom") throw bad("GETMETADATA option needs a value");
    if (name === "MAXSIZE") maxSize = parseNumber(value.value, "MAXSIZE");
    else if (name === "DEPTH") {
      const d = value.value.toLowerCase();
      if (d === "0") depth = 0;
      else if (d === "1") depth = 1;
      else if (d === "infinity") depth = Infinity;
      else throw bad("DEPTH is 0, 1 or infinity");
    } else throw bad(`Unknown GETMETADATA option ${name.slice(0, 30)}`);
  }
  return { maxSize, depth };
}

/** Whether `name` is `entry` or a descendant within `depth` levels (§4.2.2). */
function within(name: string, entry: string, depth: number): boolean {
  if (name === entry) return true;
  if (depth === 0 || !name.startsWith(entry + "/")) return false;
  return depth === Infinity || !name.slice(entry.length + 1).includes("/");
}

const getMetadataCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const options = args.peek()?.kind === "list"
      ? parseGetOptions(args.list("GETMETADATA options"))
      : { maxSize: null, depth: 0 };
    const raw = args.astring("mailbox name");
    const t = args.take("entry names");
    const requested = (t.kind === "list" ? t.items : [t]).map((e) =>
      checkEntry(tokenText(e, "entry name"))
    );
    args.end();
    if (requested.length === 0) throw bad("No entries requested");
    const scope = await scopeOf(s, raw);
    const stored = await new MetadataStore(s.root).entries(scope);
    const all = new Map([...serverProvided(s, scope), ...stored]);
    const parts: (string | Uint8Array)[] = [];
    let longest = 0;
    const seen = new Set<string>();
    for (const entry of requested) {
      for (const [name, value] of all) {
        if (seen.has(name) || !within(name, entry, options.depth)) continue;
        seen.add(name);
        if (options.maxSize !== null && value.length > options.maxSize) {
          longest = Math.max(longest, value.length);
          continue;
        }
        parts.push(name, valueText(value));
      }
    }
    if (parts.length > 0) {
      s.out.text(`* METADATA ${scope === "" ? '""' : wireName(s, scope)} (`);
      parts.forEach((p, i) => {
        if (i > 0) s.out.text(" ");
        if (typeof p === "string") s.out.text(p);
        else s.out.bytes(p);
      });
      s.out.text(")\r\n");
    }
    // §4.2.1: values left out for MAXSIZE are reported with the largest one's size.
    if (longest > 0) {
      return { text: "GETMETADATA complete", code: `METADATA LONGENTRIES ${longest}` };
    }
    return { text: "GETMETADATA complete" };
  },
};

const setMetadataCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const raw = args.astring("mailbox name");
    const list = args.list("entry-value list");
    args.end();
    if (list.length === 0 || list.length % 2 !== 0) throw bad("Expected entry value pairs");
    const changes: [string, Uint8Array | null][] = [];
    for (let i = 0; i < list.length; i += 2) {
      const entry = checkEntry(tokenText(list[i], "entry name"));
      if (!/^\/(private|shared)\//.test(entry)) {
        throw bad("Only entries below /private or /shared can be set");
      }
      const v = list[i + 1];
      let value: Uint8Array | null;
      if (v.kind === "atom" && v.value.toUpperCase() === "NIL") value = null;
      else if (v.kind === "string") value = v.bytes;
      else throw bad("A metadata value is a string, a literal or NIL");
      changes.push([entry, value]);
    }
    const scope = await scopeOf(s, raw);
    for (const change of changes) {
      const [entry, value] = change;
      if (scope === "" && entry === "/shared/admin") {
        throw no("/shared/admin is set by the server administrator", "NOPERM");
      }
      if (entry === SPECIAL_USE_ENTRY) {
        if (scope === "") throw no("Special use applies to mailboxes", "NOPERM");
        // RFC 6154 §4: the value must be attributes this server can assign.
        if (value !== null) {
          change[1] = enc.encode(checkUseAttrs(parseUseValue(dec.decode(value))).join(" "));
        }
      }
    }
    let changed: string[];
    try {
      changed = await new MetadataStore(s.root).set(scope, changes);
    } catch (e) {
      throw limitError(e);
    }
    if (changed.length > 0) {
      s.ctx.store.events.emit(s.root, { kind: "metadata", mailbox: scope, entries: changed });
    }
    return { text: "SETMETADATA complete" };
  },
};

/** RFC 5464 §4.3: NO [METADATA MAXSIZE n] / [METADATA TOOMANY]. */
function limitError(e: unknown): ImapError | unknown {
  if (!(e instanceof MetadataLimitError)) return e;
  return no(e.message, e.code === "MAXSIZE" ? `METADATA MAXSIZE ${e.limit}` : "METADATA TOOMANY");
}

export const METADATA_COMMANDS: Record<string, CommandSpec> = {
  GETMETADATA: getMetadataCommand,
  SETMETADATA: setMetadataCommand,
};
