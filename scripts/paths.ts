/** file: URL to a path, for scripts run with `deno run`. */
import { fileURLToPath } from "node:url";

export function fromFileUrl(url: URL): string {
  return fileURLToPath(url);
}
