/**
 * The worker of moves.ts: moves the message files of a folder's new/ it is given to cur/
 * with blocking calls. A rename is one short metadata call, but 90,000 of them (a first
 * SELECT's \Recent claim) are seconds of kernel time: here they run beside the event
 * loop, which meanwhile assigns the UIDs and writes the index rows of the same messages.
 */
import type { MoveReply, MoveRequest } from "./moves.ts";

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
port.onmessage = (ev: MessageEvent<MoveRequest>) => {
  const { dir, names, targets } = ev.data;
  port.postMessage(moveAll(dir, names.split("\n"), targets.split("\n")));
};
