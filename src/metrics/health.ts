/**
 * `/healthz` (SPEC §10): healthy when every mail and admin listener is accepting and the
 * store (DirBase) is writable. The check writes and removes a small probe file, because
 * permission bits say nothing about a read-only or vanished file system (or a root
 * daemon, which ignores them).
 */
import { join } from "node:path";

export interface ListenerState {
  /** Service name: smtp, submission, pop3, ... */
  name: string;
  listening: boolean;
}

export interface HealthSources {
  dirBase: () => string;
  listeners: () => ListenerState[];
}

export interface Health {
  ok: boolean;
  /** One line per check: `store ok`, `listener smtp down`, ... */
  lines: string[];
}

/** Writes, reads back and removes a probe file in DirBase; the problem, or null. */
export async function storeProblem(dirBase: string): Promise<string | null> {
  const probe = join(dirBase, `.healthz-${Deno.pid}`);
  try {
    // The probe holds nothing worth keeping, so it is not fsync'd: what is tested is
    // that the file system takes a new file here at all.
    await Deno.writeTextFile(probe, "ok\n", { mode: 0o600 });
    await Deno.remove(probe);
    return null;
  } catch (e) {
    await Deno.remove(probe).catch(() => {});
    return `store ${dirBase} not writable: ${(e as Error).message}`;
  }
}

export async function checkHealth(sources: HealthSources): Promise<Health> {
  const lines: string[] = [];
  let ok = true;
  const store = await storeProblem(sources.dirBase());
  if (store) {
    ok = false;
    lines.push(store);
  } else {
    lines.push(`store ${sources.dirBase()} writable`);
  }
  for (const l of sources.listeners()) {
    if (!l.listening) ok = false;
    lines.push(`listener ${l.name} ${l.listening ? "accepting" : "down"}`);
  }
  return { ok, lines };
}
