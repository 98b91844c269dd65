/**
 * Where the promoted garbage of issue 17's 100,000-message INBOX comes from: a sampling
 * heap profile of the daemon (V8 inspector, HeapProfiler.startSampling) from before the
 * first SELECT to the end of the STORE of `ab_imap_big.ts --store`, taken twice on fresh
 * daemons: once keeping the objects a mark-compact freed (a scavenge's are dropped: what
 * is left is what was promoted) and once live only (a full GC before the profile is read).
 * Their difference, by the outermost two src/ frames of each allocation's stack, is the
 * garbage the memory reducer's mark-compact finds (docs/performance.md, branch reducer).
 *
 *   deno run -A bench/heap_sample_imap_big.ts [--tree .] [--messages 100000]
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { seedBigMaildir } from "./_imap_big.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string", default: "." },
    messages: { type: "string", default: "100000" },
  },
});
const tree = resolve(opt.tree), count = Number(opt.messages);
const USER = "big@bench.example", PASS = "bench-pass";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ProfileNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: ProfileNode[];
}

/** Sends inspector calls over the daemon's --inspect WebSocket. */
async function inspector(port: number) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.onopen = r);
  let id = 0;
  const waiting = new Map<number, (v: Record<string, unknown>) => void>();
  ws.onmessage = (m) => {
    const j = JSON.parse(m.data);
    if (j.id) waiting.get(j.id)?.(j.result ?? j.error);
  };
  const call = (method: string, params = {}) =>
    new Promise<Record<string, unknown>>((r) => {
      waiting.set(++id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, close: () => ws.close() };
}

/** One daemon: the steps of ab_imap_big.ts --store under the sampling profiler. */
async function profile(template: string, liveOnly: boolean): Promise<ProfileNode> {
  const { seedUsers } = await import(`${tree}/tests/helpers/imap.ts`);
  const { startTestServer, freePort } = await import(`${tree}/tests/helpers/server.ts`);
  const { ImapLineClient } = await import(`${tree}/bench/_imap_bench.ts`);
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (const sub of ["cur", "new"]) {
    await Deno.remove(`${root}/${sub}`, { recursive: true });
    await new Deno.Command("cp", { args: ["-al", `${template}/${sub}`, `${root}/${sub}`] })
      .output();
  }
  const port = freePort();
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: { LogLevel: "info" },
    denoArgs: [`--inspect=127.0.0.1:${port}`],
  });
  try {
    const ins = await inspector(port);
    await ins.call("HeapProfiler.enable");
    await ins.call("HeapProfiler.startSampling", {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: !liveOnly,
      includeObjectsCollectedByMinorGC: false,
    });
    const c = await ImapLineClient.open(srv.ports.imap);
    await c.cmd(`LOGIN ${USER} ${PASS}`);
    await c.cmd("SELECT INBOX");
    await sleep(2500);
    for (let i = 0; i < 5; i++) await c.cmd("SEARCH UNSEEN");
    for (let i = 0; i < 6; i++) await c.cmd('UID SEARCH SUBJECT "quarterly figures"');
    const other = await ImapLineClient.open(srv.ports.imap);
    await other.cmd(`LOGIN ${USER} ${PASS}`);
    await other.cmd("SELECT INBOX");
    await other.cmd(`STORE 1:${count / 2} +FLAGS.SILENT (\\Flagged)`);
    other.close();
    if (liveOnly) await ins.call("HeapProfiler.collectGarbage");
    const { profile } = await ins.call("HeapProfiler.getSamplingProfile");
    c.close();
    ins.close();
    return (profile as { head: ProfileNode }).head;
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
}

/** Sampled bytes by the outermost two src/ frames of the allocating stack. */
function bySource(head: ProfileNode): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (n: ProfileNode, srcs: string[]) => {
    const f = n.callFrame;
    const here = f.url.includes("/src/")
      ? [...srcs, `${f.functionName || "(anon)"} ${f.url.replace(/.*\/src\//, "src/")}`]
      : srcs;
    if (n.selfSize > 0) {
      const k = here.slice(0, 2).join(" > ") || "(no src/ frame)";
      out.set(k, (out.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, []);
  return out;
}

const template = await Deno.makeTempDir({ prefix: "extremail-heapsample-" });
try {
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(`${template}/${sub}`);
  await seedBigMaildir(template, count, USER);
  const all = bySource(await profile(template, false));
  const live = bySource(await profile(template, true));
  const mb = (n: number) => (n / 1048576).toFixed(1).padStart(7);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`sampled ${mb(sum(all))} MB, of it live at the end ${mb(sum(live))} MB`);
  for (const [k, v] of live) all.set(k, (all.get(k) ?? 0) - v);
  for (const [k, v] of [...all].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${mb(v)} MB promoted and freed  ${k}`);
  }
} finally {
  await Deno.remove(template, { recursive: true });
}
