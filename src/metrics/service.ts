/**
 * Wires the metrics of a running server (SPEC §10): the queue as a scrape-time source and, when PortMetrics is not 0, the HTTP listener with /metrics and /healthz.
 * server.ts calls startMetricsService once its listeners are bound.
 */
import type { Listener } from "../net/listener.ts";
import type { ServerContext } from "../server/context.ts";
import { checkHealth } from "./health.ts";
import { type MetricsListener, startMetricsListener } from "./http.ts";

export interface MetricsService {
  /** The bound port, or null when PortMetrics is 0. */
  port: number | null;
  stop(): Promise<void>;
}

/** Oldest creation time among queue reports (ms since the epoch), or null when empty. */
function oldest(reports: { createdAt: number }[]): number | null {
  let min: number | null = null;
  for (const r of reports) if (min === null || r.createdAt < min) min = r.createdAt;
  return min;
}

export async function startMetricsService(
  ctx: ServerContext,
  listeners: () => readonly Listener[],
  onError: (message: string) => void,
): Promise<MetricsService> {
  const metrics = ctx.metrics;
  metrics.live.queue = () => {
    const queue = ctx.queue;
    return queue ? { length: queue.size(), oldestCreatedAt: oldest(queue.list()) } : null;
  };
  const port = ctx.config.PortMetrics;
  if (port === 0) return { port: null, stop: () => Promise.resolve() };
  const http: MetricsListener = await startMetricsListener({
    ips: ctx.config.MetricsIP,
    port,
    render: () => metrics.render(),
    health: () =>
      checkHealth({
        dirBase: () => ctx.config.DirBase,
        listeners: () =>
          listeners().map((l) => ({
            name: l.options.name ?? l.options.family,
            listening: l.listening,
          })),
      }),
    onError,
  });
  return { port: http.port, stop: () => http.stop() };
}
