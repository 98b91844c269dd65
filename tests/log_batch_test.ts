/**
 * Log lines are written together (src/log.ts): info lines within LOG_BATCH_MS in one
 * write, warnings and errors at once with whatever was pending before them, so that
 * order is kept and a problem is on disk before anything else happens.
 */
import { join } from "node:path";
import { flushLog, log, LOG_BATCH_MS, setupLogging } from "../src/log.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

Deno.test("log: info lines are batched, a warning writes them and itself at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-log-" });
  const file = join(dir, "daemon.log");
  try {
    await setupLogging({ LogLevel: "info", LogFile: file });
    const smtp = log("smtp", "s1");
    smtp.info`connect from ${"192.0.2.1"} to smtp`;
    smtp.info("disconnect");
    assertEquals(Deno.readTextFileSync(file), "", "written at once, not batched");
    const t0 = Date.now();
    let text = "";
    while (text === "" && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 5));
      text = Deno.readTextFileSync(file);
    }
    const lines = text.trimEnd().split("\n");
    assertEquals(lines.length, 2, text);
    assertMatch(lines[0], /^\S+Z INFO smtp \[s1\] connect from 192\.0\.2\.1 to smtp$/);
    assert(Date.now() - t0 >= LOG_BATCH_MS - 2, "written before the batch time");
    smtp.info("queued");
    smtp.warn("trouble");
    const now = Deno.readTextFileSync(file).trimEnd().split("\n");
    assertEquals(now.length, 4, "the warning and the line before it, at once");
    assertMatch(now[2], / INFO smtp \[s1\] queued$/);
    assertMatch(now[3], / WARNING smtp \[s1\] trouble$/);
  } finally {
    flushLog();
    await setupLogging({ LogLevel: "error", LogFile: "" });
    await Deno.remove(dir, { recursive: true });
  }
});
