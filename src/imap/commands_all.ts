/** Imports every command family so each registers itself in the command table. */
import "./commands_any.ts";
import "./commands_auth.ts";
import "./commands_mailbox.ts";
import "./commands_select.ts";
import "./commands_store.ts";
import "./list.ts";
import "./status.ts";
import "./append.ts";
import "./fetch.ts";
import "./search.ts";
import "./idle.ts";
import "./quota.ts";
