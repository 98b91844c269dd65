/**
 * The IMAP command table: every command this server implements (RFC 3501 §6, RFC 9051
 * §6 and the extensions it announces), gathered from the command families. The
 * service hands it to each session.
 */
import { APPEND_COMMANDS } from "./append.ts";
import type { CommandTable } from "./command_table.ts";
import { ANY_STATE_COMMANDS } from "./commands_any.ts";
import { AUTH_COMMANDS } from "./commands_auth.ts";
import { MAILBOX_COMMANDS } from "./commands_mailbox.ts";
import { SELECT_COMMANDS } from "./commands_select.ts";
import { STORE_COMMANDS } from "./commands_store.ts";
import { EXTENSION_COMMANDS } from "./extensions.ts";
import { FETCH_COMMANDS } from "./fetch.ts";
import { IDLE_COMMANDS } from "./idle.ts";
import { LIST_COMMANDS } from "./list.ts";
import { QUOTA_COMMANDS } from "./quota.ts";
import { SEARCH_COMMANDS } from "./search.ts";
import { CONTEXT_COMMANDS } from "./search_context.ts";
import { SORT_COMMANDS } from "./sort.ts";
import { STATUS_COMMANDS } from "./status.ts";
import { THREAD_COMMANDS } from "./thread.ts";

export const IMAP_COMMANDS: CommandTable = new Map(Object.entries({
  ...ANY_STATE_COMMANDS,
  ...AUTH_COMMANDS,
  ...MAILBOX_COMMANDS,
  ...SELECT_COMMANDS,
  ...STORE_COMMANDS,
  ...LIST_COMMANDS,
  ...STATUS_COMMANDS,
  ...APPEND_COMMANDS,
  ...FETCH_COMMANDS,
  ...SEARCH_COMMANDS,
  ...CONTEXT_COMMANDS,
  ...IDLE_COMMANDS,
  ...QUOTA_COMMANDS,
  ...SORT_COMMANDS,
  ...THREAD_COMMANDS,
  ...EXTENSION_COMMANDS,
}));
