/**
 * Starts the outbound queue with the daemon: the DNS resolver and its cache (shown by
 * `DNS CACHE SHOW`), the spool loaded from `<DirBase>/queue/`, and the delivery workers.
 */
import { Resolver } from "../dns/resolver.ts";
import { log } from "../log.ts";
import { registerBackground } from "../server/background.ts";
import { Queue } from "./runner.ts";

registerBackground((ctx) => {
  const resolver = new Resolver({
    servers: () => ctx.config.DNSServer,
    onCacheLookup: (hit) => (hit ? ctx.metrics.dnsCacheHits : ctx.metrics.dnsCacheMisses).inc(),
  });
  ctx.metrics.live.dnsCacheEntries = () => resolver.cache.size;
  const queue = new Queue(ctx, { resolver });
  ctx.dnsCache = resolver.cache;
  ctx.queue = queue;
  queue.start().catch((e) => log("queue").error(`cannot load the queue: ${(e as Error).message}`));
  return { stop: () => queue.stop() };
});
