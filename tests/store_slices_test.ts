/**
 * Renames in slices (src/store/folder/changes.ts inSlices): a STORE of 50,000 calls
 * updateFlags once per batch of 256, each batch shorter than a slice. Consecutive short
 * calls give the event loop back too (at most HOLD_MS, 50 ms, across calls); with a
 * clock per call the STORE held it for its whole 0.8-0.9 s.
 */
import { ok } from "node:assert/strict";
import { inSlices } from "../src/store/folder/changes.ts";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* a rename's time */ }
}

Deno.test("inSlices: short calls one after another still give the loop back", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await new Promise((r) => setTimeout(r, 5)); // the timer is armed
  ticks = 0;
  const items = new Array(32).fill(0);
  const t0 = performance.now();
  // 40 calls of about 4 ms each (under the 8 ms slice), about 160 ms in all, as a STORE's
  // batches run: only promise hops between them.
  for (let call = 0; call < 40; call++) await inSlices(items, () => busy(0.125));
  const took = performance.now() - t0;
  clearInterval(timer);
  ok(ticks >= 2, `the timer ran ${ticks} times in ${took.toFixed(1)} ms`);
});

Deno.test("inSlices: every item is worked on, in order", async () => {
  const seen: number[] = [];
  const items = Array.from({ length: 1000 }, (_, i) => i);
  await inSlices(items, (i) => {
    seen.push(i);
    if (i % 100 === 0) busy(2);
  });
  ok(seen.length === 1000 && seen.every((v, i) => v === i));
});
