/**
 * Tests that cannot run on this machine are skipped with the reason printed: `deno test`
 * alone only says "ignored", and a silent skip hides a missing tool or a busy port.
 *
 *   testUnless(have("mbsync") ? null : "mbsync is not installed (apt-get install isync)", {
 *     name: "imap: mbsync syncs a mailbox both ways",
 *     async fn() { ... },
 *   });
 */

/** Registers the test; when `reason` is not null it is skipped and the reason printed. */
export function testUnless(reason: string | null, def: Deno.TestDefinition): void {
  if (reason !== null) console.warn(`SKIPPED "${def.name}": ${reason}`);
  Deno.test({ ...def, ignore: reason !== null || def.ignore === true });
}

/** The first reason that applies, or null: `firstReason([!root, "needs root"], ...)`. */
export function firstReason(...checks: [boolean, string][]): string | null {
  return checks.find(([applies]) => applies)?.[1] ?? null;
}

/** Is `command` on PATH? */
export function have(command: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" })
    .outputSync().success;
}
