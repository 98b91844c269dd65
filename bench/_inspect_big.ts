/**
 * What the V8-inspector benchmarks of issue 17's 100,000-message INBOX share
 * (heap_sample_imap_big.ts, heap_snapshot_imap_big.ts): a daemon of a given checkout
 * with the seeded folder hard-linked into its user's Maildir and `--inspect` on, the
 * inspector's WebSocket, and the steps of `ab_imap_big.ts --store` (first SELECT, SEARCH
 * UNSEEN, SUBJECT searches, a STORE of half the folder from a second session).
 */
import type { ImapLineClient as LineClient } from "./_imap_bench.ts";
import { seedBigMaildir } from "./_imap_big.ts";

export const USER = "big@bench.example", PASS = "bench-pass";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Inspector calls over a daemon's --inspect WebSocket; `chunks` gathers snapshot text. */
export async function inspector(port: number) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.onopen = r);
  let id = 0;
  const chunks: string[] = [];
  const waiting = new Map<number, (v: Record<string, unknown>) => void>();
  ws.onmessage = (m) => {
    const j = JSON.parse(m.data);
    if (j.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(j.params.chunk);
    else if (j.id) waiting.get(j.id)?.(j.result ?? j.error);
  };
  const call = (method: string, params = {}) =>
    new Promise<Record<string, unknown>>((r) => {
      waiting.set(++id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, chunks, close: () => ws.close() };
}

/** A daemon of checkout `tree` whose user holds a hard-linked copy of `template`. */
export interface InspectedDaemon {
  /** The daemon's inspector port. */
  inspectPort: number;
  /** A logged-in session of the user, nothing selected. */
  login(): Promise<LineClient>;
  stop(): Promise<void>;
}

export async function inspectedDaemon(tree: string, template: string): Promise<InspectedDaemon> {
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
  const inspectPort = freePort();
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: { LogLevel: "info" },
    denoArgs: [`--inspect=127.0.0.1:${inspectPort}`],
  });
  return {
    inspectPort,
    async login() {
      const c: LineClient = await ImapLineClient.open(srv.ports.imap);
      await c.cmd(`LOGIN ${USER} ${PASS}`);
      return c;
    },
    async stop() {
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * The steps of `ab_imap_big.ts --store` in session `c`: the first SELECT, SEARCH UNSEEN 5
 * times, and with `store` SUBJECT 6 times and a STORE of half the `count` messages from
 * a second session.
 */
export async function bigSteps(
  d: InspectedDaemon,
  c: LineClient,
  count: number,
  store: boolean,
): Promise<void> {
  await c.cmd("SELECT INBOX");
  await sleep(2500);
  for (let i = 0; i < 5; i++) await c.cmd("SEARCH UNSEEN");
  if (!store) return;
  for (let i = 0; i < 6; i++) await c.cmd('UID SEARCH SUBJECT "quarterly figures"');
  const other = await d.login();
  await other.cmd("SELECT INBOX");
  await other.cmd(`STORE 1:${count / 2} +FLAGS.SILENT (\\Flagged)`);
  other.close();
}

/** A seeded 100k-style Maildir in a temporary directory for `run`, removed after it. */
export async function withTemplate<T>(
  prefix: string,
  count: number,
  run: (template: string) => Promise<T>,
): Promise<T> {
  const template = await Deno.makeTempDir({ prefix });
  try {
    for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(`${template}/${sub}`);
    await seedBigMaildir(template, count, USER);
    return await run(template);
  } finally {
    await Deno.remove(template, { recursive: true });
  }
}
