/**
 * What the live heap of a daemon with issue 17's 100,000-message INBOX open is made of:
 * the steps of `ab_imap_big.ts --store` (first SELECT, SEARCH UNSEEN, SUBJECT searches,
 * a STORE of half the folder from a second session), then a wait (--settle seconds, for
 * the key fill and the deferred work), then a heap snapshot over the inspector (which
 * collects garbage first). Prints the snapshot's objects by type and constructor (count,
 * self size), the array buffers (count, backing store), and the largest single objects
 * with a retainer chain, so the open folder's share of the memory reducer's atomic pause
 * (docs/performance.md, stop 35: it follows the live heap) can be set against its parts.
 *
 *   deno run -A bench/heap_snapshot_imap_big.ts [--tree .] [--messages 100000]
 *     [--settle 10] [--save FILE.heapsnapshot]
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { bigSteps, inspectedDaemon, inspector, sleep, withTemplate } from "./_inspect_big.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string", default: "." },
    messages: { type: "string", default: "100000" },
    settle: { type: "string", default: "10" },
    save: { type: "string", default: "" },
    store: { type: "boolean", default: true },
  },
});
const tree = resolve(opt.tree), count = Number(opt.messages);
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: string[][]; edge_fields: string[] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Totals by "type constructor", array buffers, and the biggest objects with a retainer. */
function summarise(s: Snapshot): void {
  const nf = s.snapshot.meta.node_fields, N = nf.length;
  const ef = s.snapshot.meta.edge_fields, E = ef.length;
  const types = s.snapshot.meta.node_types[0];
  const [iType, iName, iSize, iEdges] = ["type", "name", "self_size", "edge_count"].map((k) =>
    nf.indexOf(k)
  );
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((k) => ef.indexOf(k));
  const edgeTypes = (s.snapshot.meta as unknown as { edge_types: string[][] }).edge_types[0];
  const nodes = s.nodes, edges = s.edges, count = nodes.length / N;
  const by = new Map<string, [number, number]>();
  let total = 0;
  const retainer = new Int32Array(count).fill(-1);
  let e = 0;
  for (let i = 0; i < count; i++) {
    const o = i * N, t = types[nodes[o + iType]], size = nodes[o + iSize];
    let name = s.strings[nodes[o + iName]];
    if (t === "string" || t === "concatenated string" || t === "sliced string") name = "";
    if (t === "code") name = name.slice(0, 30);
    const k = `${t} ${name.slice(0, 60)}`;
    const v = by.get(k) ?? [0, 0];
    v[0]++, v[1] += size, total += size;
    by.set(k, v);
    for (let j = 0; j < nodes[o + iEdges]; j++, e += E) {
      const to = edges[e + eTo] / N, et = edgeTypes[edges[e + eType]];
      if (retainer[to] < 0 && et !== "weak") retainer[to] = i;
    }
  }
  const mb = (n: number) => (n / 1048576).toFixed(2).padStart(7);
  console.log(`objects ${count}, self size ${mb(total)} MB`);
  for (const [k, [n, b]] of [...by].sort((a, b) => b[1][1] - a[1][1]).slice(0, 45)) {
    console.log(`${mb(b)} MB ${String(n).padStart(8)}  ${k}`);
  }
  const label = (i: number) => {
    const o = i * N;
    return `${types[nodes[o + iType]]}:${s.strings[nodes[o + iName]].slice(0, 40)}`;
  };
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) sizes.push(i);
  sizes.sort((a, b) => nodes[b * N + iSize] - nodes[a * N + iSize]);
  console.log("largest objects (self size, retained by ...):");
  for (const i of sizes.slice(0, 30)) {
    const chain: string[] = [];
    for (let r = retainer[i], d = 0; r >= 0 && d < 6; r = retainer[r], d++) chain.push(label(r));
    console.log(`${mb(nodes[i * N + iSize])} MB ${label(i)} <- ${chain.join(" <- ")}`);
  }
  void eName;
}

await withTemplate("extremail-heapsnap-", count, async (template) => {
  const d = await inspectedDaemon(tree, template);
  try {
    const c = await d.login();
    await bigSteps(d, c, count, opt.store);
    await sleep(Number(opt.settle) * 1000);
    await c.cmd("SELECT INBOX");
    const ins = await inspector(d.inspectPort);
    await ins.call("HeapProfiler.enable");
    await ins.call("HeapProfiler.collectGarbage");
    await ins.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const text = ins.chunks.join("");
    if (opt.save) Deno.writeTextFileSync(opt.save, text);
    summarise(JSON.parse(text));
    ins.close();
    c.close();
  } finally {
    await d.stop();
  }
});
