/**
 * The worker of moves.ts: reads a folder's new/ and moves every message file there to
 * cur/ with blocking calls. A rename is one short metadata call, but 90,000 of them (a
 * first SELECT's \Recent claim) are seconds of kernel time: here they run beside the event
 * loop, which meanwhile assigns the UIDs and writes the index rows of the same messages.
 */
import { baseOf, fileNameFor, parseFileName } from "../maildir_names.ts";
import type { MoveReply, NewListing } from "./moves.ts";

function list(dir: string): { names: string[]; targets: string[] } {
  const names: string[] = [], targets: string[] = [];
  const bases = new Set<string>();
  for (const e of Deno.readDirSync(`${dir}/new`)) {
    // Message files as scan.ts counts them: no dot files, no line breaks.
    if (!e.isFile || e.name.startsWith(".") || /[\n\r]/.test(e.name)) continue;
    const base = baseOf(e.name);
    if (bases.has(base)) continue; // one file per message
    bases.add(base);
    names.push(e.name);
    targets.push(fileNameFor(base, parseFileName(e.name).flags));
  }
  return { names, targets };
}

function moveAll(dir: string, names: string[], targets: string[]): MoveReply {
  const done = new Uint8Array(names.length);
  for (let i = 0; i < names.length; i++) {
    try {
      Deno.renameSync(`${dir}/new/${names[i]}`, `${dir}/cur/${targets[i]}`);
      done[i] = 1;
    } catch (e) {
      // Gone (another program moved or removed it): the caller leaves it to a scan.
      if (e instanceof Deno.errors.NotFound) continue;
      return { done, error: `${(e as Error)?.message ?? e}` };
    }
  }
  return { done, error: null };
}

const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<{ dir: string }>) => {
  const { dir } = ev.data;
  let listed: { names: string[]; targets: string[] };
  try {
    listed = list(dir);
  } catch (e) {
    port.postMessage({ error: `${(e as Error)?.message ?? e}` } satisfies NewListing);
    return;
  }
  const { names, targets } = listed;
  port.postMessage({ names: names.join("\n"), targets: targets.join("\n") } satisfies NewListing);
  port.postMessage(moveAll(dir, names, targets));
};
