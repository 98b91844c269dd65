/**
 * bench:peers' create probe and settle step (bench/peers/fs_probe.ts): the probe files are
 * kept (deleting them would slow the next creates on ext4 without a journal), the settle
 * step returns at once when creates are cheap and gives up after its bound otherwise.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { join } from "node:path";
import { CreateProbe, prepareDataDir, settle } from "../bench/peers/fs_probe.ts";

Deno.test("CreateProbe keeps its files and numbers them on across runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fs-probe-test-" });
  try {
    const probe = new CreateProbe(join(dir, "p"));
    const a = probe.run();
    const b = probe.run();
    assert(a.us > 0 && b.us > 0);
    assert(a.ino > 0 && a.ino !== b.ino);
    const names = [...Deno.readDirSync(probe.dir)].map((e) => e.name);
    assertEquals(names.length, 200);
    await probe.remove();
    assertEquals(await Deno.stat(probe.dir).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("settle returns at once when quiet and stops at its bound when not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fs-probe-test-" });
  try {
    const probe = new CreateProbe(join(dir, "p"));
    const quiet = await settle(probe, { quietUs: 1e9, maxMs: 10_000 });
    assertEquals(quiet.quiet, true);
    assertEquals(quiet.waitedMs < 1_000, true);
    // No create costs 0 µs: the step probes, waits and gives up after maxMs.
    const loud = await settle(probe, { quietUs: 0, maxMs: 300, stepMs: 100 });
    assertEquals(loud.quiet, false);
    assert(loud.waitedMs >= 300 && loud.waitedMs < 5_000, `waited ${loud.waitedMs} ms`);
    // Probe only (bench:peers' default --settle-max 0): one probe, no wait.
    const once = await settle(probe, { quietUs: 0, maxMs: 0 });
    assertEquals(once.quiet, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareDataDir makes the directory and reports a flag it cannot set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fs-probe-test-" });
  try {
    const data = join(dir, "a", "b");
    const note = await prepareDataDir(data);
    assert((await Deno.stat(data)).isDirectory);
    // ext4 as root sets chattr +T; elsewhere the note says why it could not.
    assert(note === "" || note.includes("chattr +T"), note);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
