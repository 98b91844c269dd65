/**
 * ARC sealing (RFC 8617 §5.1) of mail this server forwards or expands to a list (SPEC
 * §8): ARC-Authentication-Results (our results for the message as it arrived),
 * ARC-Message-Signature and ARC-Seal, made by mailauth with the forwarding domain's DKIM
 * key, so the next hop can trust our SPF/DKIM/DMARC results after the forward broke them.
 */
import { authenticate, sealMessage } from "mailauth";
import type { MailauthResolver } from "./dns.ts";
import { type InboundEnvelope, type MessageSource, toReadable } from "./inbound.ts";
import type { DkimKey } from "./keys.ts";

/** What the inbound checks found, when they ran for this message. */
export interface SealBasis {
  authResults: string;
  arc: "none" | "pass" | "fail";
}

export interface SealOptions {
  hostName: string;
  resolver: MailauthResolver;
  /** The SMTP client of the message, for checks that did not run at reception. */
  envelope: InboundEnvelope;
}

const decoder = new TextDecoder();

/**
 * The ARC set (CRLF-terminated fields) to put on top of `message`, or "" when the chain
 * that arrived failed (RFC 8617 §5.1.2: such a chain is not continued with a pass) or
 * mailauth refused to seal.
 */
export async function arcSet(
  message: MessageSource,
  key: DkimKey,
  basis: SealBasis | null,
  opts: SealOptions,
): Promise<string> {
  const seal = {
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: key.privateKey,
  };
  if (basis) {
    if (basis.arc === "fail") return "";
    const headers = await sealMessage(toReadable(message), {
      ...seal,
      cv: basis.arc,
      authResults: basis.authResults,
    });
    return decoder.decode(headers);
  }
  // No checks ran at reception (a trusted client, InboundAuth = off, generated mail):
  // mailauth checks the message now and seals with those results.
  const result = await authenticate(
    toReadable(message),
    {
      ip: opts.envelope.ip,
      helo: opts.envelope.helo,
      sender: opts.envelope.sender,
      mta: opts.hostName,
      resolver: opts.resolver as never,
      disableBimi: true,
      seal,
    } as Parameters<typeof authenticate>[1],
  );
  return result.headers.split(/\r\n(?![ \t])/)
    .filter((f) => /^arc-/i.test(f))
    .map((f) => f + "\r\n")
    .join("");
}
