/**
 * The extensions built in their own files (RFC 3516 BINARY, RFC 4469 CATENATE, RFC 3502
 * MULTIAPPEND, RFC 4978 COMPRESS, RFC 5465 NOTIFY, RFC 5464 METADATA, RFC 8514 SAVEDATE,
 * RFC 8970 PREVIEW, RFC 6154 CREATE-SPECIAL-USE): their capability names and commands,
 * gathered here so the session and the command table each take them in one line. A
 * name is listed only once its extension is complete.
 */
import type { CommandSpec } from "./command_table.ts";
import { COMPRESS_COMMANDS } from "./compress.ts";
import { METADATA_COMMANDS } from "./metadata.ts";
import { NOTIFY_COMMANDS } from "./notify.ts";

/** Capability names of the extensions below, advertised in every state. */
export const EXTENSION_CAPABILITIES: readonly string[] = [
  "BINARY",
  "MULTIAPPEND",
  "CATENATE",
  "COMPRESS=DEFLATE",
  "METADATA",
  "METADATA-SERVER",
  "CREATE-SPECIAL-USE",
  "SAVEDATE",
  "PREVIEW",
  "NOTIFY",
];

export const EXTENSION_COMMANDS: Record<string, CommandSpec> = {
  ...COMPRESS_COMMANDS,
  ...METADATA_COMMANDS,
  ...NOTIFY_COMMANDS,
};
