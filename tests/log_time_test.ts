/** src/log.ts isoTime: the time of a log line, the second's text reused. */
import { isoTime } from "../src/log.ts";
import { assertEquals } from "./helpers/assert.ts";

Deno.test("log: isoTime is toISOString, within a second, across seconds and backwards", () => {
  const base = Date.UTC(2026, 11, 7, 4, 30, 15);
  const times = [
    base,
    base + 1,
    base + 9,
    base + 10,
    base + 99,
    base + 100,
    base + 999,
    base + 1000,
  ];
  times.push(base + 1001, base - 1, base, base + 86_400_000 + 7, 0, 5, 999, 1000, -1, -1001);
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    times.push(base + (seed % 5000) - 2500);
  }
  for (const t of times) assertEquals(isoTime(t), new Date(t).toISOString(), String(t));
});
