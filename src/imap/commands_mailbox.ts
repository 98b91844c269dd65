/**
 * Mailbox management (RFC 3501 §6.3.3-6.3.7, RFC 9051 §6.3.4-6.3.8): CREATE, DELETE,
 * RENAME (INBOX included), SUBSCRIBE, UNSUBSCRIBE. Names are validated by the store
 * (no path outside the Maildir root, SPEC §7); refusals carry RFC 5530 codes.
 */
import { isInbox } from "../store/maildir_names.ts";
import { mailboxName, no } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import type { Session } from "./session.ts";
import { mailboxId } from "./objectid.ts";
import { MetadataStore } from "./metadata_store.ts";
import { forgetRecent } from "./recent.ts";
import { parseCreateParams, SPECIAL_USE_ENTRY } from "./special_use.ts";
import { storeCall } from "./store_calls.ts";
import { updateSubscriptions } from "./subscriptions.ts";

const enc = new TextEncoder();

function nameArg(s: Session, raw: string, creating = false): string {
  const name = mailboxName(raw, s.utf8);
  if (name === "") throw no("Empty mailbox name", "CANNOT");
  // LIST wildcards in a new name would make it unlistable (RFC 3501 §5.1).
  if (creating && /[*%]/.test(name)) throw no("Mailbox names cannot contain * or %", "CANNOT");
  return name;
}

const createCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = nameArg(s, args.astring("mailbox name"), true);
    // RFC 6154 §3 CREATE-SPECIAL-USE: (USE (\Drafts ...)), checked before anything is made.
    const uses = args.more ? parseCreateParams(args.list("create parameters")) : [];
    args.end();
    const store = s.ctx.store;
    if (isInbox(name) || await storeCall(() => store.folderExists(s.root, name))) {
      throw no("Mailbox already exists", "ALREADYEXISTS");
    }
    // RFC 3501 §6.3.3: superior names are created as needed.
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (isInbox(parent)) continue;
      if (!(await storeCall(() => store.folderExists(s.root, parent)))) {
        await storeCall(() => store.createFolder(s.root, parent));
      }
    }
    await storeCall(() => store.createFolder(s.root, name));
    if (uses.length > 0) {
      try {
        await new MetadataStore(s.root).set(name, [[
          SPECIAL_USE_ENTRY,
          enc.encode(uses.join(" ")),
        ]]);
      } catch (e) {
        // §3: a mailbox that cannot have its special use is not created.
        await store.deleteFolder(s.root, name).catch(() => {});
        throw e;
      }
    }
    // RFC 8474 §4.1: CREATE tells the new mailbox's MAILBOXID.
    const id = await mailboxId(store.folderPath(s.root, name));
    return { text: "CREATE completed", code: `MAILBOXID (${id})` };
  },
};

const deleteCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = nameArg(s, args.astring("mailbox name"));
    args.end();
    if (isInbox(name)) throw no("INBOX cannot be deleted", "CANNOT");
    const store = s.ctx.store;
    if (!(await storeCall(() => store.folderExists(s.root, name)))) {
      throw no("Mailbox doesn't exist", "NONEXISTENT");
    }
    const selected = s.view && s.view.name === name;
    forgetRecent(store.folderPath(s.root, name));
    await storeCall(() => store.deleteFolder(s.root, name));
    await new MetadataStore(s.root).forget(name);
    if (selected) {
      // Deleting the selected mailbox leaves the selected state (as CLOSE without expunge).
      s.view!.close();
      s.view = null;
      s.state = "auth";
    }
    return { text: "DELETE completed" };
  },
};

const renameCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const from = nameArg(s, args.astring("existing mailbox name"));
    const to = nameArg(s, args.astring("new mailbox name"), true);
    args.end();
    const store = s.ctx.store;
    if (!isInbox(from) && !(await storeCall(() => store.folderExists(s.root, from)))) {
      throw no("Mailbox doesn't exist", "NONEXISTENT");
    }
    if (isInbox(to) || await storeCall(() => store.folderExists(s.root, to))) {
      throw no("Target mailbox already exists", "ALREADYEXISTS");
    }
    if (to.startsWith(from + "/")) throw no("Cannot move a mailbox into itself", "CANNOT");
    if (!isInbox(from)) forgetRecent(store.folderPath(s.root, from));
    await storeCall(() => store.renameFolder(s.root, from, to));
    // RFC 5464 §3.2: metadata follows the mailbox (INBOX's stays: INBOX remains).
    if (!isInbox(from)) await new MetadataStore(s.root).rename(from, to);
    if (s.view && !isInbox(from) && (s.view.name === from || s.view.name.startsWith(from + "/"))) {
      s.view.close();
      s.view = null;
      s.state = "auth";
    }
    if (!isInbox(from)) {
      // Subscriptions follow the renamed mailbox and its children.
      await updateSubscriptions(
        s.root,
        (names) =>
          names.map((n) => n === from || n.startsWith(from + "/") ? to + n.slice(from.length) : n),
      );
    }
    return { text: "RENAME completed" };
  },
};

const subscribeCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = nameArg(s, args.astring("mailbox name"));
    args.end();
    // RFC 3501 §6.3.6: subscribing to a name that does not exist is refused (RFC 9051
    // allows it; we follow the stricter rule so clients learn of typos).
    if (!isInbox(name) && !(await storeCall(() => s.ctx.store.folderExists(s.root, name)))) {
      throw no("Mailbox doesn't exist", "NONEXISTENT");
    }
    await updateSubscriptions(s.root, (names) => names.includes(name) ? names : [...names, name]);
    s.ctx.store.events.emit(s.root, { kind: "subscription", name, subscribed: true });
    return { text: "SUBSCRIBE completed" };
  },
};

const unsubscribeCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = nameArg(s, args.astring("mailbox name"));
    args.end();
    await updateSubscriptions(s.root, (names) => names.filter((n) => n !== name));
    s.ctx.store.events.emit(s.root, { kind: "subscription", name, subscribed: false });
    return { text: "UNSUBSCRIBE completed" };
  },
};

export const MAILBOX_COMMANDS: Record<string, CommandSpec> = {
  CREATE: createCommand,
  DELETE: deleteCommand,
  RENAME: renameCommand,
  SUBSCRIBE: subscribeCommand,
  UNSUBSCRIBE: unsubscribeCommand,
};
