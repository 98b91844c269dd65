/**
 * The per-folder UID list (`extremail-uidlist`): UIDVALIDITY, UIDNEXT and the UID of
 * every message base name. Append-only between compactions, so assigning UIDs to a
 * few new messages in a 100,000-message folder writes a few lines, not the file.
 *
 *   extremail-uidlist 1 V<uidvalidity> N<uidnext>
 *   <uid> <base>
 */
import { join } from "node:path";
import { syncDir, writeAll, writeFileAtomic } from "./fsutil.ts";

export const UIDLIST = "extremail-uidlist";

export interface UidList {
  uidValidity: number;
  uidNext: number;
  byBase: Map<string, number>;
  /** Lines in the file, to decide when compaction pays. */
  lines: number;
}

export async function readUidList(folderPath: string): Promise<UidList | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(folderPath, UIDLIST));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const lines = text.split("\n");
  const header = /^extremail-uidlist 1 V(\d+) N(\d+)/.exec(lines[0]);
  if (!header) return null; // unreadable: treated as lost, a new UIDVALIDITY follows
  const list: UidList = {
    uidValidity: Number(header[1]),
    uidNext: Number(header[2]),
    byBase: new Map(),
    lines: lines.length,
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const space = line.indexOf(" ");
    // A torn last line (crash mid-append) has no newline after it and is ignored:
    // its message simply gets a new UID, which no client has seen yet.
    if (space <= 0 || (i === lines.length - 1 && !text.endsWith("\n"))) continue;
    const uid = Number(line.slice(0, space));
    if (!Number.isSafeInteger(uid) || uid <= 0) continue;
    list.byBase.set(line.slice(space + 1), uid);
    if (uid >= list.uidNext) list.uidNext = uid + 1;
  }
  return list;
}

/** Appends new assignments and makes them durable before any client sees them. */
export async function appendUidList(
  folderPath: string,
  list: UidList,
  added: { uid: number; base: string }[],
): Promise<void> {
  const path = join(folderPath, UIDLIST);
  const body = added.map((a) => `${a.uid} ${a.base}\n`).join("");
  const file = await Deno.open(path, { append: true, create: false });
  try {
    await writeAll(file, new TextEncoder().encode(body));
    await file.sync();
  } finally {
    file.close();
  }
  list.lines += added.length;
}

/** Rewrites the whole list (new folder, lost list, or too many dead lines). */
export async function writeUidList(folderPath: string, list: UidList): Promise<void> {
  const rows = [...list.byBase].sort((a, b) => a[1] - b[1]).map(([base, uid]) =>
    `${uid} ${base}\n`
  );
  const text = `extremail-uidlist 1 V${list.uidValidity} N${list.uidNext}\n${rows.join("")}`;
  await writeFileAtomic(join(folderPath, UIDLIST), text);
  list.lines = rows.length + 1;
}

/** Cross-process lock on the folder's UID list (flock), for other tools on DirBase. */
export async function withUidListLock<T>(folderPath: string, work: () => Promise<T>): Promise<T> {
  const lock = await Deno.open(join(folderPath, `${UIDLIST}.lock`), {
    read: true,
    write: true,
    create: true,
  });
  try {
    await lock.lock(true);
    return await work();
  } finally {
    lock.close(); // closing releases the flock
  }
}

export { syncDir };
