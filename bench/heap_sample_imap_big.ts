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
import { bigSteps, inspectedDaemon, inspector, withTemplate } from "./_inspect_big.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string", default: "." },
    messages: { type: "string", default: "100000" },
  },
});
const tree = resolve(opt.tree), count = Number(opt.messages);
interface ProfileNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: ProfileNode[];
}

/** One daemon: the steps of ab_imap_big.ts --store under the sampling profiler. */
async function profile(template: string, liveOnly: boolean): Promise<ProfileNode> {
  const d = await inspectedDaemon(tree, template);
  try {
    const ins = await inspector(d.inspectPort);
    await ins.call("HeapProfiler.enable");
    await ins.call("HeapProfiler.startSampling", {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: !liveOnly,
      includeObjectsCollectedByMinorGC: false,
    });
    const c = await d.login();
    await bigSteps(d, c, count, true);
    if (liveOnly) await ins.call("HeapProfiler.collectGarbage");
    const { profile } = await ins.call("HeapProfiler.getSamplingProfile");
    c.close();
    ins.close();
    return (profile as { head: ProfileNode }).head;
  } finally {
    await d.stop();
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

await withTemplate("extremail-heapsample-", count, async (template) => {
  const all = bySource(await profile(template, false));
  const live = bySource(await profile(template, true));
  const mb = (n: number) => (n / 1048576).toFixed(1).padStart(7);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`sampled ${mb(sum(all))} MB, of it live at the end ${mb(sum(live))} MB`);
  for (const [k, v] of live) all.set(k, (all.get(k) ?? 0) - v);
  for (const [k, v] of [...all].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${mb(v)} MB promoted and freed  ${k}`);
  }
});
