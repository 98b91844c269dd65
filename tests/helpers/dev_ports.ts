/**
 * The development defaults listen on fixed ports (SPEC §2: 2525, 2587, 1110, 1143, 4501).
 * Tests that start the daemon on them (the development-defaults test, the README quick
 * start) take a file lock first, so that test files running in parallel never collide,
 * and skip with the reason when another program holds a port.
 */
import { join } from "node:path";

export const DEV_PORTS = [2525, 2587, 1110, 1143, 4501];

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Why the development ports cannot be used now, or null when they are all free. */
export function devPortsBusy(): string | null {
  const busy = DEV_PORTS.filter((p) => !portFree(p));
  return busy.length
    ? `the development-default ports ${busy.join(", ")} are in use on 127.0.0.1 (another daemon?)`
    : null;
}

/** Why the development defaults would not apply here (a system config exists), or null. */
export function systemConfigPresent(): string | null {
  try {
    Deno.statSync("/etc/extremail/extremail.toml");
    return "/etc/extremail/extremail.toml exists, so the daemon would not use development defaults";
  } catch {
    return null;
  }
}

/**
 * Runs `fn` holding the lock of the development ports. When they are taken after all
 * (by a program outside the tests), prints why and returns without running it.
 */
export async function withDevPorts(test: string, fn: () => Promise<void>): Promise<void> {
  const lockPath = join(Deno.env.get("TMPDIR") ?? "/tmp", "extremail-dev-ports.lock");
  const lock = await Deno.open(lockPath, { create: true, write: true });
  try {
    await lock.lock(true);
    const busy = devPortsBusy();
    if (busy) {
      console.warn(`SKIPPED "${test}" at run time: ${busy}`);
      return;
    }
    await fn();
  } finally {
    lock.close();
  }
}
