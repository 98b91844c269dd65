/**
 * SPEC §12: the mailbox copies of a plan whose users are homed on other nodes go to those
 * nodes over LMTP (src/cluster/lmtp_client.ts) before anything else is stored or queued,
 * one transaction per node and envelope group. A copy counts once its home node answered
 * 250 (it is in the Maildir there). When no copy reached its home and one could not for
 * a temporary reason, the whole delivery fails (SMTP answers 451, nothing was stored, the
 * sender retries); when some did, the ones that failed become failed copies (a DSN),
 * since the message can no longer be refused as a whole.
 */
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import { handOff, type HandOffOutcome } from "../cluster/lmtp_client.ts";
import type { MessageContent } from "../store/content.ts";
import type { Group, Plan } from "./plan.ts";
import { type FailedRecipient, SmtpReply } from "./types.ts";

/** Every copy for other nodes failed for a temporary reason: answer 451 to the whole. */
export class HomeUnreachableError extends Error {}

export interface HandedOff {
  copies: number;
  failures: { group: Group; failed: FailedRecipient }[];
}

/** "451 4.3.0 text" -> SmtpReply. */
function replyOf(line: string): SmtpReply {
  const m = /^(\d{3})[ -](?:(\d\.\d{1,3}\.\d{1,3}) )?(.*)$/.exec(line);
  return m ? new SmtpReply(Number(m[1]), m[2] ?? "", m[3]) : new SmtpReply(451, "4.3.0", line);
}

/**
 * Takes the users homed elsewhere out of the plan's groups and hands their copies over.
 * `contentOf(group)` is the message as the group's mailboxes store it.
 */
export async function handOffHomedElsewhere(
  ctx: ServerContext,
  plan: Plan,
  contentOf: (g: Group) => Uint8Array | MessageContent,
  sender: (g: Group) => string,
  folder: string | undefined,
): Promise<HandedOff> {
  const work: { group: Group; node: string; users: UserRecord[] }[] = [];
  for (const g of plan.groups) {
    const local: UserRecord[] = [];
    const byNode = new Map<string, UserRecord[]>();
    for (const u of g.users) {
      const home = ctx.homeOf(u);
      if (home === "local") local.push(u);
      else byNode.set(home, [...(byNode.get(home) ?? []), u]);
    }
    g.users = local;
    for (const [node, users] of byNode) work.push({ group: g, node, users });
  }
  if (work.length === 0) return { copies: 0, failures: [] };
  const results = await Promise.all(work.map(async (w) => ({
    w,
    outcomes: await handOff(ctx.peers, w.node, {
      from: sender(w.group),
      recipients: w.users.map((u) => ({ address: `${u.name}@${u.domain}`, folder })),
      data: contentOf(w.group),
    }),
  })));
  let copies = 0;
  const failed: { group: Group; outcome: HandOffOutcome }[] = [];
  for (const { w, outcomes } of results) {
    for (const o of outcomes) {
      if (o.kind === "sent") copies++;
      else failed.push({ group: w.group, outcome: o });
    }
  }
  if (copies === 0 && failed.some((f) => f.outcome.kind === "temp")) {
    throw new HomeUnreachableError(failed.find((f) => f.outcome.kind === "temp")!.outcome.reply);
  }
  return {
    copies,
    failures: failed.map((f) => ({
      group: f.group,
      failed: { address: f.outcome.address, reply: replyOf(f.outcome.reply) },
    })),
  };
}
