/** src/queue/id.ts: queue ids (SPEC §5), their random part drawn from a pool. */
import { isQueueId, newQueueId } from "../src/queue/id.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

Deno.test("queue id: 14 characters that sort by time, random parts distinct past the pool", () => {
  const now = Date.UTC(2026, 11, 7, 4, 30, 15);
  const ids = new Set<string>();
  // Several refills of the 64-id pool: every id well formed, none repeated.
  for (let i = 0; i < 1000; i++) {
    const id = newQueueId(now);
    assert(isQueueId(id), id);
    ids.add(id);
  }
  assertEquals(ids.size, 1000);
  const time = [...ids][0].slice(0, 9);
  assert([...ids].every((id) => id.slice(0, 9) === time), "one instant, one time part");
  assert(newQueueId(now - 1) < newQueueId(now) && newQueueId(now) < newQueueId(now + 1));
  // Every letter of the alphabet turns up in the random parts (not a stuck pool).
  assertEquals(new Set([...ids].flatMap((id) => [...id.slice(9)])).size, 32);
});
