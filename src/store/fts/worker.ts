/**
 * The thread of the full-text index (fts.ts): it owns every open index file (db.ts),
 * reads and parses message files with blocking calls while indexing, and runs the
 * queries, so none of that costs the event loop of the sessions. Requests are served in
 * the order they come; fts.ts keeps at most one indexing batch per folder in flight, so a
 * query waits for one batch at most.
 */
import { FtsDb, type IndexItem } from "./db.ts";
import { runInBackground } from "../../sys/thread_priority.ts";

export type FtsRequest =
  & { id: number; path: string; uidValidity: number }
  & (
    | { op: "docs" }
    | { op: "index"; items: IndexItem[] }
    | { op: "remove"; uids: number[] }
    | { op: "query"; match: string }
    | { op: "close" }
  );

/** Index files kept open; the least recently used is closed beyond this. */
const MAX_OPEN = 32;
const open = new Map<string, { db: FtsDb; uidValidity: number; ino: number | null }>();

function inode(path: string): number | null {
  try {
    return Deno.statSync(path).ino;
  } catch {
    return null;
  }
}

/**
 * The open index at `path`, opened again when the file there is another one (the folder
 * was deleted and made again, or renamed away) or of another UIDVALIDITY.
 */
function dbFor(path: string, uidValidity: number): FtsDb {
  const hit = open.get(path);
  const ino = inode(path);
  if (hit) {
    open.delete(path);
    if (hit.uidValidity === uidValidity && ino !== null && hit.ino === ino) {
      open.set(path, hit);
      return hit.db;
    }
    hit.db.close();
  }
  const db = FtsDb.open(path, uidValidity);
  open.set(path, { db, uidValidity, ino: inode(path) });
  while (open.size > MAX_OPEN) {
    const [oldest, e] = open.entries().next().value!;
    e.db.close();
    open.delete(oldest);
  }
  return db;
}

function serve(req: FtsRequest): { result: unknown; instance?: string } {
  if (req.op === "close") {
    for (const e of open.values()) e.db.close();
    open.clear();
    return { result: null };
  }
  const db = dbFor(req.path, req.uidValidity);
  switch (req.op) {
    case "docs":
      return { result: db.docs(), instance: db.instance };
    case "index":
      return { result: db.index(req.items), instance: db.instance };
    case "remove":
      db.remove(req.uids);
      return { result: null, instance: db.instance };
    case "query":
      return { result: db.query(req.match), instance: db.instance };
  }
}

runInBackground(); // sys/thread_priority.ts: the event loop goes first
const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<FtsRequest>) => {
  const { id } = ev.data;
  try {
    const reply = serve(ev.data);
    // UID lists are handed over, not copied.
    const r = reply.result as { indexed?: unknown } | null;
    const list = r instanceof Uint32Array ? r : r?.indexed;
    const buffer = list instanceof Uint32Array ? list.buffer : null;
    port.postMessage({ id, ...reply }, buffer instanceof ArrayBuffer ? [buffer] : []);
  } catch (e) {
    port.postMessage({ id, error: (e as Error)?.message ?? String(e) });
  }
};
