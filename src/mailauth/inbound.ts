/**
 * Checks of mail received on port 25 (SPEC §8): SPF for MAIL FROM and HELO (RFC 7208),
 * every DKIM signature (RFC 6376), DMARC with alignment (RFC 7489), the ARC chain
 * (RFC 8617), all by mailauth over the server's DNS client; the results become one
 * `Authentication-Results` field (RFC 8601, authserv-id = HostName) and `Received-SPF`
 * (RFC 7208 §9.1). DNS failures give temperror results, never a refusal of their own.
 *
 * The message is given as bytes or as a stream of chunks (a spool file read in pieces):
 * `MessageSource`. The whole message is needed (DKIM body hashes), but never all in
 * memory at once when it comes as chunks.
 */
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { authenticate } from "mailauth";
import { stripComments } from "../message/fold.ts";
import { fieldValue, type HeaderBlock } from "../message/header.ts";
import { concatBytes } from "../message/header_rewrite.ts";
import type { MailauthResolver } from "./dns.ts";

/** The message: all its bytes, or its chunks in order. */
export type MessageSource = Uint8Array | AsyncIterable<Uint8Array>;

export interface InboundEnvelope {
  /** The SMTP client's address. */
  ip: string;
  helo: string;
  /** MAIL FROM without <>; "" for the null sender (SPF then checks the HELO name). */
  sender: string;
}

export type DmarcAction = "accept" | "reject" | "quarantine";

export interface InboundVerdict {
  /** `Authentication-Results` then `Received-SPF`, CRLF-terminated, for the top. */
  headers: string;
  /** The Authentication-Results value (what an ARC-Authentication-Results repeats). */
  authResults: string;
  /** ARC chain validation of the message as it arrived. */
  arc: "none" | "pass" | "fail";
  /** DMARC result and the policy that applies when it failed ("" without a record). */
  dmarc: { result: string; policy: string; domain: string };
  /** What InboundAuth = enforce makes of the DMARC result; always "accept" under tag. */
  action: DmarcAction;
  /** One line for the log: "spf=pass dkim=pass dmarc=pass arc=none". */
  summary: string;
}

/** What every check may take at most, so a slow DNS cannot hold the client forever. */
const MAX_SPF_MS = 20_000;

export function toReadable(source: MessageSource): Buffer | Readable {
  if (source instanceof Uint8Array) {
    return Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }
  return Readable.from(source);
}

/** Splits mailauth's header text into its fields ("Name: value" with folds, no final CRLF). */
function fields(text: string): string[] {
  return text.split(/\r\n(?![ \t])/).filter((f) => f !== "");
}

export async function checkInbound(
  source: MessageSource,
  env: InboundEnvelope,
  opts: { hostName: string; resolver: MailauthResolver; enforce: boolean },
): Promise<InboundVerdict> {
  const result = await authenticate(
    toReadable(source),
    {
      ip: env.ip,
      helo: env.helo,
      sender: env.sender,
      mta: opts.hostName,
      resolver: opts.resolver as never,
      disableBimi: true,
      maxElapsedTime: MAX_SPF_MS,
    } as Parameters<typeof authenticate>[1],
  );
  const all = fields(result.headers);
  const ar = all.find((f) => /^authentication-results:/i.test(f)) ?? "";
  const spfHeader = all.find((f) => /^received-spf:/i.test(f));
  const headers = [ar, ...(spfHeader ? [spfHeader] : [])].map((f) => f + "\r\n").join("");

  const arcStatus = result.arc ? result.arc.status.result : "none";
  const arc = arcStatus === "pass" ? "pass" : arcStatus === "fail" ? "fail" : "none";
  const dm = result.dmarc;
  const dmarc = {
    result: dm ? dm.status.result : "none",
    policy: dm ? dm.policy ?? "" : "",
    domain: dm ? dm.status.header?.from ?? "" : "",
  };
  let action: DmarcAction = "accept";
  if (opts.enforce && dmarc.result === "fail") {
    if (dmarc.policy === "reject") action = "reject";
    else if (dmarc.policy === "quarantine") action = "quarantine";
  }
  const dkim = result.dkim.results.map((r) => r.status.result);
  const summary = [
    `spf=${result.spf ? result.spf.status.result : "none"}`,
    `dkim=${dkim.length ? dkim.join(",") : "none"}`,
    `dmarc=${dmarc.result}${dmarc.policy ? `(p=${dmarc.policy})` : ""}`,
    `arc=${arcStatus}`,
  ].join(" ");
  return {
    headers,
    authResults: ar.replace(/^authentication-results:\s*/i, ""),
    arc,
    dmarc,
    action,
    summary,
  };
}

/**
 * RFC 8601 §5: Authentication-Results fields that claim to be ours (authserv-id equal to
 * HostName, any letter case) came from outside and are removed before ours is added.
 * Returns the message without them, or null when there is none.
 */
export function withoutForgedResults(block: HeaderBlock, hostName: string): Uint8Array | null {
  const ours = hostName.toLowerCase();
  const doomed = block.fields.filter((f) => {
    if (f.name !== "authentication-results") return false;
    // authserv-id is the first token, before any version and ";" (RFC 8601 §2.2).
    const value = stripComments(fieldValue(block.bytes, f), " ").trim();
    return value.split(/[\s;]/, 1)[0].replace(/^"|"$/g, "").toLowerCase() === ours;
  });
  if (doomed.length === 0) return null;
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const f of doomed) {
    parts.push(block.bytes.subarray(from, f.start));
    from = f.end;
  }
  parts.push(block.bytes.subarray(from));
  return concatBytes(parts);
}
