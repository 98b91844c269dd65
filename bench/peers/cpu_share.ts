/**
 * Reading cpu_share.py's line (stderr of a lean load run under it, bench:peers): where
 * the CPU went during the run, as figures for the table.
 */

/**
 * CPU time per operation from cpu_share.py's line on stderr (`who`: server or client),
 * in µs, with the operation count taken from the load's output by `ops`.
 */
export const cpuPerOp = (who: "server" | "client", ops: RegExp) => (out: string, err: string) => {
  const cpu = new RegExp(`^cpu_share .*? ${who} ([\\d.]+) s`, "m").exec(err);
  const n = ops.exec(out);
  return cpu && n && Number(n[1]) > 0 ? (Number(cpu[1]) / Number(n[1])) * 1e6 : undefined;
};

/** The machine's idle share during the run (% of all CPUs), from cpu_share.py. */
export const idleShare = (_out: string, err: string) => {
  const m = /^cpu_share .*? idle [\d.]+ s \(\s*(\d+) %\)/m.exec(err);
  return m ? Number(m[1]) : undefined;
};

/**
 * The server tree's busiest sample (% of one core): near 100 for our one event loop
 * means the loop, not the machine, was the ceiling then.
 */
export const serverPeak = (_out: string, err: string) => {
  const m = /^cpu_share .*? sample (\d+) %/m.exec(err);
  return m ? Number(m[1]) : undefined;
};

/** The busiest sample of the server's main thread alone (our event loop), % of one core. */
export const mainThreadPeak = (_out: string, err: string) => {
  const m = /^cpu_share .*? its main thread [\d.]+ s, busiest (\d+) %/m.exec(err);
  return m ? Number(m[1]) : undefined;
};

/**
 * The server main thread's voluntary context switches per operation, from cpu_share.py:
 * for our daemon, how often the event loop slept with nothing to do (each sleep and
 * wake-up costs CPU on this VM, so a quiet machine raises our CPU per operation).
 */
export const mainSleepsPerOp = (ops: RegExp) => (out: string, err: string) => {
  const m = /^cpu_share .*?main thread switches: voluntary (\d+)/m.exec(err);
  const n = ops.exec(out);
  return m && n && Number(n[1]) > 0 ? Number(m[1]) / Number(n[1]) : undefined;
};
