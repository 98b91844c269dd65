/**
 * The metrics listener (SPEC §10): HTTP on PortMetrics at each MetricsIP address, serving
 * `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz` (200 or 503 with one
 * line per check). PortMetrics = 0 leaves it off.
 */
import type { Health } from "./health.ts";
import { TEXT_FORMAT_CONTENT_TYPE } from "./registry.ts";

export interface MetricsListenerOptions {
  ips: readonly string[];
  port: number;
  render: () => string;
  health: () => Promise<Health>;
  onError: (message: string) => void;
}

export interface MetricsListener {
  /** The bound port (resolved when 0 was asked for in tests). */
  port: number;
  stop(): Promise<void>;
}

const PLAIN = "text/plain; charset=utf-8";

/** Answers one request; exported for unit tests. */
export async function handleMetricsRequest(
  request: Request,
  opts: Pick<MetricsListenerOptions, "render" | "health">,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path !== "/metrics" && path !== "/healthz") {
    return new Response("not found; try /metrics or /healthz\n", {
      status: 404,
      headers: { "content-type": PLAIN },
    });
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("only GET and HEAD\n", {
      status: 405,
      headers: { "content-type": PLAIN, allow: "GET, HEAD" },
    });
  }
  const head = request.method === "HEAD";
  if (path === "/metrics") {
    return new Response(head ? null : opts.render(), {
      headers: { "content-type": TEXT_FORMAT_CONTENT_TYPE, "cache-control": "no-store" },
    });
  }
  const health = await opts.health();
  const body = `${health.ok ? "ok" : "unhealthy"}\n${health.lines.join("\n")}\n`;
  return new Response(head ? null : body, {
    status: health.ok ? 200 : 503,
    headers: { "content-type": PLAIN, "cache-control": "no-store" },
  });
}

/** Binds every address (rejects with the address when one cannot be bound). */
export async function startMetricsListener(opts: MetricsListenerOptions): Promise<MetricsListener> {
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  let port = opts.port;
  try {
    for (const ip of opts.ips) {
      let server: Deno.HttpServer<Deno.NetAddr>;
      try {
        // Deno.serve binds before it returns (and throws when it cannot).
        server = Deno.serve({
          hostname: ip,
          // Every address on the same port: the first one's when 0 was asked for.
          port,
          onListen: () => {},
          onError: (e) => {
            opts.onError(`metrics request failed: ${(e as Error)?.message ?? e}`);
            return new Response("internal error\n", { status: 500 });
          },
        }, (request) => handleMetricsRequest(request, opts));
      } catch (e) {
        throw new Error(`cannot listen on ${ip}:${port}: ${(e as Error).message}`);
      }
      servers.push(server);
      port = server.addr.port;
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.shutdown()));
    throw e;
  }
  return {
    port,
    stop: async () => {
      await Promise.all(servers.map((s) => s.shutdown()));
    },
  };
}
