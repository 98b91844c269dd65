/**
 * Durable "already answered" records of the autoresponder (SPEC §5: once per sender
 * per 7 days, across restarts). One small JSON file per user under
 * DirBase/autoreply/<domain>/<user>.json, rewritten atomically (tmp, fsync, rename,
 * directory fsync); the records of a user are cached in memory and changed under a
 * per-user lock, so two messages from one sender arriving together get one answer.
 */
import { join } from "node:path";
import { ensureDirDurable, Mutex, writeFileAtomic } from "../store/fsutil.ts";
import { AUTOREPLY_PERIOD_MS } from "./autoreply.ts";

/** Cap on remembered senders per user (oldest forgotten first). */
const MAX_ENTRIES = 5000;

interface UserRecords {
  lock: Mutex;
  senders: Map<string, number> | null;
}

export class AutoReplyStore {
  readonly dir: string;
  readonly #users = new Map<string, UserRecords>();

  constructor(dirBase: string) {
    this.dir = join(dirBase, "autoreply");
  }

  /** Directory names come from the directory's validated names (no "/" nor ".."). */
  #path(user: { name: string; domain: string }): string {
    return join(this.dir, user.domain.toLowerCase(), `${user.name.toLowerCase()}.json`);
  }

  /**
   * Records that `user` answers `sender` now, durably, and returns true; returns
   * false (and changes nothing) when it already answered within the period.
   */
  claim(
    user: { name: string; domain: string },
    sender: string,
    now = Date.now(),
  ): Promise<boolean> {
    const key = `${user.name}@${user.domain}`.toLowerCase();
    let rec = this.#users.get(key);
    if (!rec) this.#users.set(key, rec = { lock: new Mutex(), senders: null });
    const r = rec;
    return r.lock.run(async () => {
      const path = this.#path(user);
      r.senders ??= await load(path);
      const who = sender.toLowerCase();
      const last = r.senders.get(who);
      if (last !== undefined && now - last < AUTOREPLY_PERIOD_MS && last <= now) return false;
      const next = new Map<string, number>();
      for (const [s, t] of r.senders) {
        if (now - t < AUTOREPLY_PERIOD_MS && s !== who) next.set(s, t);
      }
      next.set(who, now);
      while (next.size > MAX_ENTRIES) next.delete(next.keys().next().value!);
      await ensureDirDurable(join(this.dir, user.domain.toLowerCase()));
      await writeFileAtomic(path, JSON.stringify(Object.fromEntries(next)));
      r.senders = next;
      return true;
    });
  }
}

async function load(path: string): Promise<Map<string, number>> {
  try {
    const data = JSON.parse(await Deno.readTextFile(path));
    const out = new Map<string, number>();
    if (data && typeof data === "object") {
      for (const [s, t] of Object.entries(data)) if (typeof t === "number") out.set(s, t);
    }
    return out;
  } catch (e) {
    // Missing or unreadable (a crash cannot leave it half-written: it is renamed into place).
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return new Map();
    throw e;
  }
}

const stores = new Map<string, AutoReplyStore>();

/** The store of a DirBase (one per process and DirBase). */
export function autoReplyStore(dirBase: string): AutoReplyStore {
  let s = stores.get(dirBase);
  if (!s) stores.set(dirBase, s = new AutoReplyStore(dirBase));
  return s;
}
