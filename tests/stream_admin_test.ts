/**
 * Back-pressure on the administration port (SPEC §7 "a client that does not read its
 * replies stops being read"): HELP commands pipelined and never read fill the kernel's
 * buffers, then the daemon stops reading the session; its memory stays put and another
 * admin session is served.
 */
import { Admin } from "./admin_helper.ts";
import { assert } from "./helpers/assert.ts";
import { memory } from "./helpers/stream.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("admin: pipelined HELP never read: the session stops being read", async () => {
  const srv = await startTestServer({ config: { LogLevel: "info" } });
  try {
    const pid = srv.pid();
    const flood = await Admin.open(srv.ports.admin);
    const before = memory(pid).rss;
    const helps = new TextEncoder().encode("HELP\r\n".repeat((8 << 20) / 6));
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < helps.length; i += 65536) {
        await flood.c.write(helps.subarray(i, i + 65536));
        written += Math.min(65536, helps.length - i);
      }
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 3000));
    // Each HELP answers ~1 KB: read in full, 8 MiB of them would be 1.4 GB of replies.
    assert(written < helps.length, "the daemon read every HELP of a client that never reads");
    const settled = memory(pid).rss;
    await new Promise((r) => setTimeout(r, 1500));
    const after = memory(pid).rss;
    assert(
      after - settled < 4,
      `memory still growing: ${settled.toFixed(1)} -> ${after.toFixed(1)}`,
    );
    assert(after - before < 64, `resident memory grew ${(after - before).toFixed(1)} MiB`);
    const other = await Admin.open(srv.ports.admin);
    const t0 = Date.now();
    assert((await other.cmd("HELP")).ok);
    assert(Date.now() - t0 < 1000, `HELP took ${Date.now() - t0} ms`);
    other.c.close();
    flood.c.close();
    await writing;
  } finally {
    await srv.stop();
  }
});
