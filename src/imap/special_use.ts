/**
 * Special-use attributes of mailboxes (RFC 6154): the fixed ones of the folders every
 * user gets (SPEC §5), and those a client gives a mailbox of its own with CREATE ...
 * (USE (\Archive)) (CREATE-SPECIAL-USE, §3) or SETMETADATA /private/specialuse (§4).
 * The latter are kept as that METADATA entry (metadata_store.ts), so LIST, GETMETADATA
 * and the mailbox's renames and deletion all see the same value.
 */
import { bad, no } from "./args.ts";
import { MetadataStore } from "./metadata_store.ts";
import type { Token } from "./parser.ts";

/** RFC 6154 attributes of the folders every user gets (SPEC §5). */
export const BUILTIN_SPECIAL_USE: Readonly<Record<string, string>> = {
  Drafts: "\\Drafts",
  Sent: "\\Sent",
  Trash: "\\Trash",
  Junk: "\\Junk",
  Archive: "\\Archive",
};

export const SPECIAL_USE_ENTRY = "/private/specialuse";

/**
 * Attributes a mailbox can carry here. \All and \Flagged name virtual mailboxes (every
 * message, every flagged message) that this server does not build, so they are refused.
 */
const ASSIGNABLE = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];
const KNOWN = [...ASSIGNABLE, "\\All", "\\Flagged"];

/**
 * Canonical attribute names for a list of use-attrs; NO [USEATTR] for one this server
 * cannot assign (RFC 6154 §3), BAD for one that is not an attribute at all.
 */
export function checkUseAttrs(names: string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const known = KNOWN.find((k) => k.toLowerCase() === raw.toLowerCase());
    if (!known) {
      if (!raw.startsWith("\\")) throw bad(`Invalid special-use attribute ${raw.slice(0, 30)}`);
      throw no(`Unknown special-use attribute ${raw.slice(0, 30)}`, "USEATTR");
    }
    if (!ASSIGNABLE.includes(known)) {
      throw no(`${known} mailboxes are not supported by this server`, "USEATTR");
    }
    if (!out.includes(known)) out.push(known);
  }
  return out;
}

/** CREATE parameters (RFC 4466 §2.2 create-param): USE (RFC 6154 §3) is the only one. */
export function parseCreateParams(items: Token[]): string[] {
  let uses: string[] | null = null;
  for (let i = 0; i < items.length; i++) {
    const t = items[i];
    const name = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (name !== "USE" || uses !== null) {
      throw bad(`Unknown CREATE parameter ${name.slice(0, 30) || "(list)"}`);
    }
    const list = items[++i];
    if (!list || list.kind !== "list") throw bad("USE needs a list of attributes");
    uses = checkUseAttrs(list.items.map((a) => {
      if (a.kind !== "atom") throw bad("Invalid special-use attribute");
      return a.value;
    }));
  }
  return uses ?? [];
}

/** The /private/specialuse value (space-separated attributes) as a list. */
export function parseUseValue(value: string): string[] {
  return value.split(" ").filter((v) => v !== "");
}

/** Special-use attributes of every mailbox of a user: built-in ones and stored ones. */
export async function specialUses(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>(Object.entries(BUILTIN_SPECIAL_USE));
  for (const [scope, entries] of await new MetadataStore(root).all()) {
    const v = entries.get(SPECIAL_USE_ENTRY);
    if (scope !== "" && v) out.set(scope, new TextDecoder().decode(v));
  }
  return out;
}
