/**
 * What the same-time A/B drivers (bench/ab.ts: SMTP, bench/ab_pop3.ts: POP3/IMAP) share:
 * perf stat counts of a daemon during a round, and the median of the rounds.
 */

/** `perf stat` attached to `pid` until the returned function is called; counts by event. */
export function perfStat(pid: number, events: string): () => Promise<Map<string, number>> {
  const child = new Deno.Command("perf", {
    args: ["stat", "-x", ",", "-e", events, "-p", String(pid)],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return async () => {
    child.kill("SIGINT");
    const { stderr } = await child.output();
    const counts = new Map<string, number>();
    for (const line of new TextDecoder().decode(stderr).split("\n")) {
      const [count, , event] = line.split(",");
      if (event && /^\d+$/.test(count)) counts.set(event, Number(count));
    }
    return counts;
  };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
