/**
 * What a folder's messages cost in memory (store/folder/columns.ts): bytes per message
 * with every entry read, heap and outside it (typed arrays), and no object kept per
 * message once entries were handed out. The bounds are generous (about twice the
 * measured figures) but below what an object per message cost (about 230 bytes).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MessageTable, newEntry } from "../src/store/folder/messages.ts";
import { assert } from "./helpers/assert.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap and outside-heap bytes in use after full collections. */
function inUse(): number {
  gc();
  gc();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

function filled(n: number): MessageTable {
  const table = new MessageTable();
  for (let uid = 1; uid <= n; uid++) {
    const base = `${1700000000 + uid}.M${String(uid % 1e6).padStart(6, "0")}P4242Q${uid}` +
      `.mail.example.org,S=${2000 + uid % 977}`;
    const flags = uid % 10 === 0 ? "S" : uid % 7 === 0 ? "FS" : "";
    table.insert(newEntry({
      uid,
      base,
      sub: "cur",
      name: `${base}:2,${flags}`,
      flags,
      size: 2000 + uid % 977,
      internalDate: 1704186000000 + uid * 1000,
      modseq: 1 + uid % 50,
    }));
  }
  return table;
}

Deno.test("folder entries: bytes per message stay bounded with every entry read", () => {
  const n = 40000;
  const before = inUse();
  const table = filled(n);
  // Every entry read, as a client's FETCH 1:* (FLAGS ENVELOPE) or SEARCH LARGER would.
  let octets = 0, named = 0;
  for (const e of table.byUid.values()) {
    octets += e.size;
    named += e.name.length > 0 ? 1 : 0;
  }
  const after = inUse();
  const perMessage = (after - before) / n;
  console.log(`${perMessage.toFixed(0)} bytes per message (heap and typed arrays)`);
  assert(named === n && octets > 0 && table.count === n, "every entry was read");
  assert(perMessage < 160, `${perMessage.toFixed(0)} bytes per message, expected under 160`);
});

Deno.test("folder entries: entries handed out are not kept by the table", () => {
  const n = 40000;
  const table = filled(n);
  const before = inUse();
  const { uids, count } = table.snapshot();
  let held = 0;
  for (let i = 0; i < count; i++) held += table.entryAt(uids, i)!.internalDate! > 0 ? 1 : 0;
  const after = inUse();
  assert(held === n, "every entry was made");
  const growth = (after - before) / n;
  assert(growth < 8, `the table grew by ${growth.toFixed(1)} bytes per message after entryAt`);
});
