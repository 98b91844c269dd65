/** The product version (digits and dots, SPEC §2 `--version`). Kept in step with deno.json. */
export const VERSION = "0.1.0";
