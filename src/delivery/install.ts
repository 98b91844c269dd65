/**
 * Imported for effect by src/server/services_all.ts: when the daemon starts, the mail
 * pipeline becomes `ctx.submit`, so the queue (DSN bounces) and other services can hand
 * it mail generated inside the server.
 */
import { registerBackground } from "../server/background.ts";
import { installPipeline } from "./pipeline.ts";

registerBackground((ctx) => {
  installPipeline(ctx);
  // Nothing runs in the background; ctx.submit stays set so that the queue's own
  // shutdown (after this stop) can still submit DSNs.
  return { stop: () => Promise.resolve() };
});
