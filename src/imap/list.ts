/**
 * LIST and LSUB (RFC 3501 §6.3.8-6.3.9, RFC 9051 §6.3.9) with the LIST-EXTENDED basics
 * (RFC 5258: selection SUBSCRIBED, RECURSIVEMATCH, SPECIAL-USE; return SUBSCRIBED,
 * CHILDREN, SPECIAL-USE), CHILDREN attributes (RFC 3348), SPECIAL-USE (RFC 6154) and
 * LIST-STATUS (RFC 5819). Names go out in modified UTF-7 to rev1 clients and in
 * UTF-8 once enabled (RFC 6855).
 */
import { decodeMutf7 } from "../store/mutf7.ts";
import { compileMailboxPattern } from "./glob.ts";
import { bad, tokenText, wireName } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import { statusItems, statusResponse } from "./status.ts";
import { specialUses } from "./special_use.ts";
import { readSubscriptions } from "./subscriptions.ts";

function decodePattern(s: Session, raw: string): string {
  if (s.utf8 || !raw.includes("&") || /[\u0080-\uffff]/.test(raw)) return raw;
  try {
    return decodeMutf7(raw);
  } catch {
    return raw;
  }
}

interface ListOptions {
  subscribedOnly: boolean;
  recursiveMatch: boolean;
  specialUseOnly: boolean;
  returnSubscribed: boolean;
  returnStatus: string[] | null;
  lsub: boolean;
}

async function runList(s: Session, refRaw: string, patterns: string[], o: ListOptions) {
  const ref = decodePattern(s, refRaw);
  const verb = o.lsub ? "LSUB" : "LIST";
  // RFC 3501 §6.3.8: an empty pattern asks for the delimiter and the root.
  if (patterns.length === 1 && patterns[0] === "") {
    s.out.text(`* ${verb} (\\Noselect) "/" ""\r\n`);
    return;
  }
  const existing = await s.ctx.store.listFolders(s.root);
  const exists = new Set(existing);
  const subscribed = new Set(
    (o.lsub || o.subscribedOnly || o.returnSubscribed) ? await readSubscriptions(s.root) : [],
  );
  // Every name with its ancestors; an ancestor without a folder is \Noselect. The parents
  // of existing and of subscribed names are sets, so each name is answered in O(1).
  const all = new Set<string>(existing);
  const parents = new Set<string>();
  const existingParents = new Set<string>();
  const subscribedParents = new Set<string>();
  const addAncestors = (n: string, into: Set<string>) => {
    for (let i = n.indexOf("/"); i > 0; i = n.indexOf("/", i + 1)) into.add(n.slice(0, i));
  };
  for (const n of existing) addAncestors(n, existingParents);
  for (const n of subscribed) addAncestors(n, subscribedParents);
  for (const n of [...existing, ...(o.lsub || o.subscribedOnly ? subscribed : [])]) {
    addAncestors(n, parents);
    addAncestors(n, all);
    all.add(n);
  }
  // RFC 6154: the built-in folders' attributes and those set by CREATE (USE ...) or METADATA.
  const uses = await specialUses(s.root);
  const matchers = patterns.map((p) => compileMailboxPattern(decodePattern(s, ref + p)));
  const sorted = [...all].sort((a, b) => a === "INBOX" ? -1 : b === "INBOX" ? 1 : a < b ? -1 : 1);
  for (const name of sorted) {
    if (!matchers.some((m) => m.test(name))) continue;
    const isSub = subscribed.has(name);
    const hasChildren = existingParents.has(name);
    const attrs: string[] = [];
    let childInfo = "";
    if (o.lsub || o.subscribedOnly) {
      const subChild = subscribedParents.has(name);
      // RFC 5258 §3.5: CHILDINFO tells of a subscribed descendant that is not listed itself.
      const hidden = o.recursiveMatch &&
        hasUnlistedChild(name, subscribed, (n) => matchers.some((m) => m.test(n)));
      if (hidden) childInfo = ` ("CHILDINFO" ("SUBSCRIBED"))`;
      if (!isSub) {
        // RFC 3501 §6.3.9 / RFC 5258 §3.5: parents of subscribed names.
        if (!subChild) continue;
        if (o.lsub) {
          if (!matchers.some((m) => m.hasPercent && m.test(name))) continue;
          attrs.push("\\Noselect");
        } else if (!hidden) continue;
      }
    }
    if (!exists.has(name)) {
      if (!o.lsub && (isSub || o.subscribedOnly) && !parents.has(name)) attrs.push("\\NonExistent");
      else if (!attrs.includes("\\Noselect")) attrs.push("\\Noselect");
    }
    const special = exists.has(name) ? uses.get(name) : undefined;
    if (o.specialUseOnly && !special) continue;
    if (!o.lsub) {
      attrs.push(hasChildren ? "\\HasChildren" : "\\HasNoChildren");
      if (special) attrs.push(special);
      if (isSub && (o.subscribedOnly || o.returnSubscribed)) attrs.push("\\Subscribed");
    }
    s.out.text(`* ${verb} (${attrs.join(" ")}) "/" ${wireName(s, name)}${childInfo}\r\n`);
    if (o.returnStatus && exists.has(name)) {
      // RFC 5819: a STATUS response follows each selectable mailbox.
      const folder = await s.ctx.store.openFolder(s.root, name);
      if (folder) s.out.text(await statusResponse(s, name, folder, o.returnStatus));
    }
    await s.out.maybeFlush();
  }
}

/**
 * RFC 5258 §3.5 (example: `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"` gives `Vegetable`
 * CHILDINFO for `Vegetable/Broccoli`, while "*" lists the child itself): whether `name`
 * has a subscribed descendant that the patterns do not list.
 */
function hasUnlistedChild(
  name: string,
  subscribed: ReadonlySet<string>,
  listed: (name: string) => boolean,
): boolean {
  for (const n of subscribed) if (n.startsWith(name + "/") && !listed(n)) return true;
  return false;
}

function patternsOf(t: Token): string[] {
  if (t.kind === "list") {
    if (t.items.length === 0) throw bad("Empty pattern list");
    return t.items.map((i) => tokenText(i, "mailbox pattern"));
  }
  return [tokenText(t, "mailbox pattern")];
}

const listCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const o: ListOptions = {
      subscribedOnly: false,
      recursiveMatch: false,
      specialUseOnly: false,
      returnSubscribed: false,
      returnStatus: null,
      lsub: false,
    };
    if (args.peek()?.kind === "list") {
      for (const t of args.list("selection options")) {
        const opt = t.kind === "atom" ? t.value.toUpperCase() : "";
        if (opt === "SUBSCRIBED") o.subscribedOnly = true;
        else if (opt === "RECURSIVEMATCH") o.recursiveMatch = true;
        else if (opt === "SPECIAL-USE") o.specialUseOnly = true;
        else if (opt !== "REMOTE") throw bad(`Unknown LIST selection option ${opt.slice(0, 30)}`);
      }
      if (o.recursiveMatch && !o.subscribedOnly) {
        throw bad("RECURSIVEMATCH needs another selection option");
      }
    }
    const ref = args.astring("reference name");
    const patterns = patternsOf(args.take("mailbox pattern"));
    if (args.more) {
      if (args.atom("RETURN").toUpperCase() !== "RETURN") throw bad("Expected RETURN");
      const items = args.list("return options");
      for (let i = 0; i < items.length; i++) {
        const t = items[i];
        const opt = t.kind === "atom" ? t.value.toUpperCase() : "";
        if (opt === "SUBSCRIBED") o.returnSubscribed = true;
        else if (opt === "CHILDREN" || opt === "SPECIAL-USE") continue; // always sent
        else if (opt === "STATUS") {
          const list = items[++i];
          if (!list || list.kind !== "list") throw bad("RETURN STATUS needs a list of items");
          o.returnStatus = statusItems(list.items);
        } else throw bad(`Unknown LIST return option ${opt.slice(0, 30)}`);
      }
    }
    args.end();
    await runList(s, ref, patterns, o);
    return { text: "LIST completed" };
  },
};

const lsubCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const ref = args.astring("reference name");
    const pattern = args.astring("mailbox pattern");
    args.end();
    await runList(s, ref, [pattern], {
      subscribedOnly: true,
      recursiveMatch: false,
      specialUseOnly: false,
      returnSubscribed: false,
      returnStatus: null,
      lsub: true,
    });
    return { text: "LSUB completed" };
  },
};

export const LIST_COMMANDS: Record<string, CommandSpec> = {
  LIST: listCommand,
  LSUB: lsubCommand,
};
