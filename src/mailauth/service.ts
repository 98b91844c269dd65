/**
 * Mail authentication as the rest of the server uses it (SPEC §8), built once by the
 * composition root (src/server/server.ts) and handed to the mail pipeline, the queue and
 * the admin commands (as `ctx.auth`):
 *
 * - outbound: `dkimDomain*` choose d= by "which key signs what", `signature` signs with
 *   that domain's newest key (the queue calls it when a message leaves);
 * - inbound: `check` runs SPF/DKIM/DMARC/ARC for mail received on port 25;
 * - forwarding: `srsSender` / `reverseSrs` (SRS), `arcSet` (ARC sealing).
 *
 * Configuration is read live (RELOAD): DKIMSign, InboundAuth, SRS, HostName.
 */
import type { Config } from "../config/schema.ts";
import { log } from "../log.ts";
import type { Resolver } from "../dns/resolver.ts";
import { parseAddressList } from "../message/address.ts";
import { fieldValue, type HeaderBlock } from "../message/header.ts";
import { arcSet, type SealBasis } from "./arc.ts";
import { type MailauthResolver, mailauthResolver } from "./dns.ts";
import {
  checkInbound,
  type InboundEnvelope,
  type InboundVerdict,
  type MessageSource,
} from "./inbound.ts";
import { type DkimKeyStore, FileKeyStore } from "./keys.ts";
import { dkimSignature } from "./sign.ts";
import type { MessageContent } from "../store/content.ts";
import { Srs, type SrsReversal } from "./srs.ts";

export interface MailAuthDeps {
  config: () => Readonly<Config>;
  keys: DkimKeyStore;
  srs: Srs;
  resolver: Resolver;
  isLocalDomain: (domain: string) => boolean;
}

const encoder = new TextEncoder();

export class MailAuth {
  readonly keys: DkimKeyStore;
  readonly #deps: MailAuthDeps;
  readonly #resolve: MailauthResolver;

  constructor(deps: MailAuthDeps) {
    this.#deps = deps;
    this.keys = deps.keys;
    this.#resolve = mailauthResolver(deps.resolver);
  }

  /** The file key store and the SRS secret under DirBase. */
  static async open(
    dirBase: string,
    deps: Omit<MailAuthDeps, "keys" | "srs">,
    warn: (text: string) => void,
  ): Promise<MailAuth> {
    const keys = await FileKeyStore.open(dirBase, warn);
    return new MailAuth({ ...deps, keys, srs: await Srs.open(dirBase) });
  }

  get #config(): Readonly<Config> {
    return this.#deps.config();
  }

  // ---------------------------------------------------------------- outbound DKIM

  /** d= for mail of a user or an autoreply: the From header's domain, when it is local. */
  dkimDomainOfFrom(block: HeaderBlock): string | undefined {
    const from = block.fields.find((f) => f.name === "from");
    if (!from) return undefined;
    const first = parseAddressList(fieldValue(block.bytes, from)).find((a) => a.host);
    const domain = first?.host?.toLowerCase();
    return domain && this.#deps.isLocalDomain(domain) ? domain : undefined;
  }

  /** d= for the server's DSNs: HostName, or its closest parent, that is a local domain. */
  dkimDomainOfHost(): string | undefined {
    const labels = this.#config.HostName.toLowerCase().split(".");
    for (let i = 0; i < labels.length - 1; i++) {
      const d = labels.slice(i).join(".");
      if (this.#deps.isLocalDomain(d)) return d;
    }
    return undefined;
  }

  /**
   * The DKIM-Signature field for `message` signed by `domain`'s newest key; "" when
   * DKIMSign is off, the domain has no key (any more) or the message cannot be signed
   * (no From header): it then goes out unsigned rather than wait in the queue (logged).
   */
  async signature(
    message: Uint8Array | MessageContent,
    domain: string | undefined,
  ): Promise<string> {
    if (!domain || !this.#config.DKIMSign) return "";
    const key = this.keys.active(domain);
    if (!key) return "";
    try {
      return await dkimSignature(message, key);
    } catch (e) {
      log("queue").warn(`not DKIM-signed by ${domain}: ${(e as Error).message}`);
      return "";
    }
  }

  // ---------------------------------------------------------------- inbound

  /** SPEC §8 checks under InboundAuth tag/enforce; null when InboundAuth is off. */
  async check(source: MessageSource, envelope: InboundEnvelope): Promise<InboundVerdict | null> {
    const mode = this.#config.InboundAuth;
    if (mode === "off") return null;
    return await checkInbound(source, envelope, {
      hostName: this.#config.HostName,
      resolver: this.#resolve,
      enforce: mode === "enforce",
    });
  }

  // ---------------------------------------------------------------- forwarding

  /**
   * The envelope sender of a copy forwarded by `forwardingDomain`: SRS when SRS is on,
   * the sender is not null and not already in a local domain (our own senders pass SPF).
   */
  srsSender(sender: string, forwardingDomain: string): string {
    if (!this.#config.SRS || sender === "") return sender;
    const domain = sender.slice(sender.lastIndexOf("@") + 1).toLowerCase();
    if (this.#deps.isLocalDomain(domain)) return sender;
    return this.#deps.srs.forward(sender, forwardingDomain);
  }

  /** A recipient in a local domain that is an SRS address of ours, reversed (or refused). */
  reverseSrs(address: string): SrsReversal {
    const at = address.lastIndexOf("@");
    if (at <= 0 || !this.#deps.isLocalDomain(address.slice(at + 1).toLowerCase())) {
      return { kind: "not-srs" };
    }
    return this.#deps.srs.reverse(address.slice(0, at));
  }

  /** The ARC set to put on a copy forwarded by `domain`; "" when it has no key. */
  async arcSet(
    message: MessageSource,
    domain: string,
    basis: SealBasis | null,
    envelope: InboundEnvelope,
  ): Promise<Uint8Array> {
    const key = this.keys.active(domain);
    if (!key) return new Uint8Array(0);
    const text = await arcSet(message, key, basis, {
      hostName: this.#config.HostName,
      resolver: this.#resolve,
      envelope,
    });
    return encoder.encode(text);
  }
}
