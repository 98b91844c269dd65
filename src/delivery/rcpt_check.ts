/**
 * RCPT TO for the mail pipeline (pipeline.ts, which exports checkRcpt): SPEC §5 deny
 * entries, relay rules, local resolution, SIZE against QUOTA/MAXIN, duplicates, and SPEC
 * §9 DNSBL. Each step that may wait (the DNSBL look-up, a home node's reachability, a
 * quota's usage) makes a promise only when it has to: every other RCPT is answered
 * synchronously, which lets the SMTP session answer it inside the socket's read callback
 * (src/smtp/command_loop.ts).
 */
import { log } from "../log.ts";
import { isAscii } from "../message/controls.ts";
import type { ServerContext } from "../server/context.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import { isSrsLocalPart } from "../mailauth/srs.ts";
import { dnsblApplies, dnsblRefusal } from "./spamcheck.ts";
import { expand, type Expansion, isEmpty, isListMember, isPostmasterLocalPart } from "./expand.ts";
import { userLimit } from "./plan.ts";
import * as R from "./replies.ts";
import type { AcceptedRecipient, SessionInfo, SmtpReply, Transaction } from "./types.ts";

/** What checkRcpt stores in AcceptedRecipient.resolution. */
export interface Resolution {
  /** Normalized `local@domain` (domain lower-case, A-labels), for duplicate checks. */
  key: string;
  expansion: Expansion;
}

export function isResolution(x: unknown): x is Resolution {
  return typeof x === "object" && x !== null && "expansion" in x && "key" in x;
}

/**
 * RFC 5321 4.5.1: `<postmaster>` without a domain is a local recipient, and so is postmaster
 * at HostName when that is not a local domain: it is the name of our greeting and of our
 * DSNs' MAILER-DAEMON@HostName, where a remote admin's reply goes (Postfix: $myhostname).
 */
function isOurPostmaster(ctx: ServerContext, rcpt: string): boolean {
  if (/^postmaster$/i.test(rcpt)) return true;
  const at = rcpt.lastIndexOf("@");
  if (at <= 0 || !isPostmasterLocalPart(rcpt.slice(0, at))) return false;
  const domain = rcpt.slice(at + 1).toLowerCase();
  return domain === ctx.config.HostName.toLowerCase() && !ctx.directory.isLocalDomain(domain);
}

/** Where `<postmaster>` goes: postmaster@ HostName when local, else @ the first domain. */
function postmasterAddress(ctx: ServerContext): string | null {
  const host = ctx.config.HostName.toLowerCase();
  const domain = ctx.directory.isLocalDomain(host) ? host : ctx.directory.domains()[0];
  return domain ? `postmaster@${domain}` : null;
}

/**
 * RCPT TO (SPEC §5): deny entries, relay rules, local resolution (user, alias,
 * catch-all, list with ACCESS), QUOTA/MAXIN when SIZE was given, duplicates.
 * postmaster@ a local domain always resolves (expand.ts: its own address, else the
 * `Postmaster` key, else DirBase/postmaster/) and is exempt from DNSBL refusals; deny
 * entries and a real postmaster user's QUOTA/MAXIN still apply (docs/delivery.md).
 */
export function checkRcpt(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  rcpt: string,
): RcptCheck | Promise<RcptCheck> {
  let target = rcpt;
  if (isOurPostmaster(ctx, rcpt)) {
    const pm = postmasterAddress(ctx);
    if (!pm) return { reply: R.unknownUser(rcpt) };
    target = pm;
  }
  if (!isAscii(target) && !tx.params.smtpUtf8) return { reply: R.needUtf8(rcpt) };
  let recipient: { local: string; domain: string };
  try {
    recipient = parseAddress(target);
  } catch (e) {
    if (e instanceof NameError) return { reply: R.badRecipient(rcpt) };
    throw e;
  }
  // Each step that may wait (DNSBL, a home node, a quota) returns a promise only when it
  // has to: every other RCPT is answered without one, which lets the SMTP session answer
  // it inside the socket's read callback (src/smtp/command_loop.ts).
  if (!dnsblApplies(ctx, info, recipient)) return resolveRcpt(ctx, info, tx, rcpt, recipient);
  // SPEC §9: a client listed in a DNSBL zone is refused here (postmaster@ excepted).
  return dnsblRefusal(ctx, info, recipient).then((listed) =>
    listed ? { reply: listed } : resolveRcpt(ctx, info, tx, rcpt, recipient)
  );
}

/** What checkRcpt answers: the reply, and the recipient when accepted. */
type RcptCheck = { reply: SmtpReply; accepted?: AcceptedRecipient };

/** checkRcpt after the DNSBL: SRS, deny entries, relay, expansion, home nodes, limits. */
function resolveRcpt(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  rcpt: string,
  { local, domain }: { local: string; domain: string },
): RcptCheck | Promise<RcptCheck> {
  let address = `${local}@${domain}`;
  const dir = ctx.directory;
  // SPEC §8: a bounce to an SRS address of ours goes to the original sender; forged or
  // expired ones are unknown users.
  let reversed = false;
  if (isSrsLocalPart(local) && dir.isLocalDomain(domain)) {
    const srs = ctx.auth.reverseSrs(address);
    if (srs.kind === "invalid") {
      return { reply: R.reply(550, "5.1.1", `<${R.safe(rcpt)}>: ${srs.reason}`) };
    }
    if (srs.kind === "original") {
      ({ local, domain } = parseAddress(srs.address));
      address = `${local}@${domain}`;
      reversed = true;
    }
  }
  // RFC 5321 §2.4: remote local parts are case-sensitive; local users are not.
  const key = dir.isLocalDomain(domain) ? address.toLowerCase() : address;
  if (dir.isDenied("DOMAINOUT", domain) || dir.isDenied("MAILBOXOUT", address)) {
    return { reply: R.recipientDenied(rcpt) };
  }
  // Duplicate recipients collapse to one copy: accepted again, delivered once.
  if (
    tx.recipients.some((r) => (isResolution(r.resolution) ? r.resolution.key : r.address) === key)
  ) {
    return { reply: R.duplicateRecipient(rcpt) };
  }
  const isLocal = dir.isLocalDomain(domain);
  if (!isLocal) {
    // SPEC §5 "No open relay": only trusted networks and authenticated clients.
    if (!ctx.isLocalIp(info.clientIp) && !info.authUser && !reversed) {
      return { reply: R.relayDenied(rcpt) };
    }
  } else {
    const resolved = dir.resolveLocal(local, domain);
    if (
      resolved.kind === "list" && resolved.list.access === "MEMBERS" &&
      !isListMember(resolved.list, tx.from)
    ) {
      return { reply: R.membersOnly(rcpt) };
    }
  }
  const expansion = expand(dir, address, { sender: tx.from, postmaster: ctx.config.Postmaster });
  if (isEmpty(expansion)) {
    if (expansion.loop) return { reply: R.aliasLoop(rcpt) };
    if (expansion.denied && !expansion.unknown) return { reply: R.recipientDenied(rcpt) };
    return { reply: R.unknownUser(rcpt) };
  }
  // SPEC §12: a user homed on a node that cannot be reached waits at the sender (451);
  // the message's other recipients are not affected.
  const homes = remoteHomes(ctx, expansion);
  if (homes.size === 0) return checkLimits(ctx, info, tx, rcpt, { key, expansion });
  return unreachableHome(ctx, homes).then((down) =>
    down ? { reply: R.homeUnreachable(rcpt, down) } : checkLimits(ctx, info, tx, rcpt, {
      key,
      expansion,
    })
  );
}

/** SPEC §5: with SIZE, QUOTA and MAXIN are enforced at RCPT; refused when no copy could be stored. */
function checkLimits(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  rcpt: string,
  resolution: Resolution,
): RcptCheck | Promise<RcptCheck> {
  const ok: RcptCheck = {
    reply: R.recipientOk(rcpt),
    accepted: { address: rcpt, resolution: resolution satisfies Resolution },
  };
  const size = tx.params.size;
  const { locals, remotes } = resolution.expansion;
  if (size === undefined || locals.length === 0 || remotes.length > 0) return ok;
  const failed = (e: unknown): RcptCheck => {
    log("delivery", info.id).error(`RCPT <${rcpt}>: quota check failed: ${(e as Error).message}`);
    return { reply: R.localError() };
  };
  const decide = (limits: (SmtpReply | null)[]): RcptCheck =>
    limits.every((r) => r !== null) ? { reply: limits[0]! } : ok;
  let limits: (SmtpReply | null | Promise<SmtpReply | null>)[];
  try {
    limits = locals.map((l) => userLimit(ctx, l.user, size));
  } catch (e) {
    return failed(e);
  }
  if (!limits.some((l) => l instanceof Promise)) return decide(limits as (SmtpReply | null)[]);
  return Promise.all(limits).then(decide, failed);
}

/** The home nodes other than this one of the recipient's own mailboxes (not list members'). */
function remoteHomes(ctx: ServerContext, e: Expansion): Set<string> {
  const nodes = new Set<string>();
  for (const l of e.locals) {
    const home = l.group === null ? ctx.homeOf(l.user) : "local";
    if (home !== "local") nodes.add(home);
  }
  return nodes;
}

/** The first of `nodes` that is down. */
async function unreachableHome(ctx: ServerContext, nodes: Set<string>): Promise<string | null> {
  for (const node of nodes) if (!(await ctx.peers.reachable(node))) return node;
  return null;
}
