/**
 * The remote copies of a delivery (route.ts) and the mail authentication each gets
 * (SPEC §8, src/mailauth via ctx.auth): relayed addresses keep the group's sender;
 * forwarded ones get an SRS envelope sender per forwarding domain and, like list
 * copies, an ARC set when that domain has a DKIM key; `dkimDomainFor` names the d= that
 * signs a queued copy when it leaves. Split from route.ts: what a copy for another host
 * carries, apart from running the plan.
 */
import { log } from "../log.ts";
import { concatBytes } from "../message/header_rewrite.ts";
import { MessageContent } from "../store/content.ts";
import type { ServerContext } from "../server/context.ts";
import { remoteKey } from "./expand.ts";
import type { Group } from "./plan.ts";
import type { RouteJob } from "./route.ts";

/**
 * SPEC §8 "which key signs what": list mail with the list domain's key; the server's
 * own mail (null sender: DSNs, autoreplies) with its From domain's, else HostName's;
 * users' mail from a trusted client with its From domain's. Mail from outside: none.
 */
export function dkimDomainFor(ctx: ServerContext, job: RouteJob, g: Group): string | undefined {
  if (g.list) return g.list.domain;
  if (job.dkimDomain) return job.dkimDomain;
  if (!job.trusted) return undefined;
  const from = ctx.auth.dkimDomainOfFrom(job.block);
  if (from) return from;
  return job.mode === "internal" && job.from === "" ? ctx.auth.dkimDomainOfHost() : undefined;
}

export interface RemoteCopy {
  sender: string;
  to: string[];
  data: Uint8Array | MessageContent;
}

/**
 * A group's remote addresses as queue entries: relayed ones with the group's sender;
 * forwarded ones (SPEC §8) per forwarding domain with an SRS sender there and an ARC set
 * when that domain has a key; list copies ARC-sealed by the list domain.
 */
export async function remoteCopies(
  ctx: ServerContext,
  job: RouteJob,
  g: Group,
  sender: string,
  head: Uint8Array,
): Promise<RemoteCopy[]> {
  const bySender = new Map<string, { to: string[]; sealer?: string }>();
  for (const address of g.remotes) {
    const via = g.list ? undefined : g.forwarders.get(remoteKey(address));
    const forwarder = via ? via.slice(via.lastIndexOf("@") + 1) : undefined;
    const envelope = forwarder ? ctx.auth.srsSender(sender, forwarder) : sender;
    const key = `${envelope}\u0000${forwarder ?? ""}`;
    const entry = bySender.get(key) ?? { to: [], sealer: g.list?.domain ?? forwarder };
    entry.to.push(address);
    bySender.set(key, entry);
  }
  const out: RemoteCopy[] = [];
  for (const [key, { to, sealer }] of bySender) {
    let data = job.message.content([job.added, job.message.trace], head);
    if (sealer) {
      const envelope = job.client ??
        { ip: "127.0.0.1", helo: ctx.config.HostName, sender: job.from };
      try {
        // The whole message is read for the body hash, from the spool file in chunks.
        const source = data instanceof Uint8Array ? data : data.chunks();
        const arc = await ctx.auth.arcSet(source, sealer, job.sealBasis ?? null, envelope);
        if (arc.length) {
          data = data instanceof Uint8Array
            ? concatBytes([arc, data])
            : new MessageContent([arc, ...data.parts]);
        }
      } catch (e) {
        log("delivery", job.sid).warn(
          `${job.queueId}: ARC sealing by ${sealer} failed, sent unsealed: ${(e as Error).message}`,
        );
      }
    }
    out.push({ sender: key.slice(0, key.indexOf("\u0000")), to, data });
  }
  return out;
}
