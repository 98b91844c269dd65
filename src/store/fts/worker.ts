/**
 * The thread of the full-text index (fts.ts): it owns every open index file (db.ts),
 * reads and parses message files with blocking calls while indexing, and runs the
 * queries, so none of that costs the event loop of the sessions. Requests are served in
 * the order they come; fts.ts keeps at most one indexing batch per folder in flight, so a
 * query waits for one batch at most.
 */
import { FtsDb, type IndexItem } from "./db.ts";

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
const open = new Map<string, { db: FtsDb; uidValidity: number }>();

function dbFor(path: string, uidValidity: number): FtsDb {
  const hit = open.get(path);
  if (hit) {
    open.delete(path);
    if (hit.uidValidity === uidValidity) {
      open.set(path, hit);
      return hit.db;
    }
    hit.db.close();
  }
  const db = FtsDb.open(path, uidValidity);
  open.set(path, { db, uidValidity });
  while (open.size > MAX_OPEN) {
    const [oldest, e] = open.entries().next().value!;
    e.db.close();
    open.delete(oldest);
  }
  return db;
}

function serve(req: FtsRequest): unknown {
  if (req.op === "close") {
    for (const e of open.values()) e.db.close();
    open.clear();
    return null;
  }
  const db = dbFor(req.path, req.uidValidity);
  switch (req.op) {
    case "docs":
      return db.docs();
    case "index":
      return db.index(req.items);
    case "remove":
      db.remove(req.uids);
      return null;
    case "query":
      return db.query(req.match);
  }
}

const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<FtsRequest>) => {
  const { id } = ev.data;
  try {
    port.postMessage({ id, result: serve(ev.data) });
  } catch (e) {
    port.postMessage({ id, error: (e as Error)?.message ?? String(e) });
  }
};
