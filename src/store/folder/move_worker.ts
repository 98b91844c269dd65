/**
 * The worker of moves.ts: lists a folder's new/ and moves its message files to cur/ with
 * blocking calls. A rename is one short metadata call, but 90,000 of them (a first
 * SELECT's \Recent claim) are seconds of kernel time: here they run beside the event
 * loop, which meanwhile assigns the UIDs and writes the index rows of the same messages.
 * The listing is made here too, and handed over as one string (new_listing.ts) before the
 * moves begin: its 90,000 directory entries and strings die with this thread instead of
 * being promoted on the event loop.
 */
import type { FromMover, MoveReply, MoveRequest } from "./moves.ts";
import { listingBuffers, listNew, targetOf } from "./new_listing.ts";

function moveAll(dir: string, names: readonly string[]): MoveReply {
  const done = new Uint8Array(names.length);
  for (let i = 0; i < names.length; i++) {
    try {
      Deno.renameSync(`${dir}/new/${names[i]}`, `${dir}/cur/${targetOf(names[i])}`);
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
const post = (m: FromMover, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
port.onmessage = (ev: MessageEvent<MoveRequest>) => {
  const { dir } = ev.data;
  let listed: ReturnType<typeof listNew>;
  try {
    listed = listNew(dir);
  } catch (e) {
    post({
      listError: { name: (e as Error)?.name ?? "Error", message: `${(e as Error)?.message ?? e}` },
    });
    return;
  }
  post({ listing: listed.listing }, listingBuffers(listed.listing));
  post(moveAll(dir, listed.list));
};
