/**
 * DKIM ADD / DEL / SHOW (SPEC §4, §8): signing keys per local domain, through the key
 * store interface of src/mailauth/keys.ts. ADD and SHOW print the TXT record to publish.
 * Rotation: ADD a new key (it signs from then on, being the newest), publish its record,
 * DEL the old one once mail signed with it has been delivered.
 */
import {
  checkSelector,
  defaultSelector,
  type DkimKey,
  DkimKeyError,
  dnsRecord,
} from "../../mailauth/keys.ts";
import { AdminError, kv, ok } from "../reply.ts";
import { isoTime } from "../values.ts";
import { existingDomain, plural } from "./common.ts";
import type { CommandSpec } from "./types.ts";

/** `Record=<selector>._domainkey.<domain> TXT "v=DKIM1; k=...; p=..."` (SPEC §8). */
function recordLine(key: DkimKey): string {
  const r = dnsRecord(key);
  return kv("Record", `${r.name} TXT "${r.value}"`);
}

/**
 * One key of DKIM SHOW: SPEC §4 wants one data line per object, beginning with its name, so
 * the record to publish ends that line (its value has spaces and quotes: it comes last).
 */
function keyLine(key: DkimKey, active: boolean): string {
  return `${key.domain} Selector=${key.selector} Type=${key.type === "rsa" ? "RSA" : "ED25519"}` +
    ` Created=${isoTime(key.created)} Active=${active ? "YES" : "NO"} ${recordLine(key)}`;
}

export const DKIM_COMMANDS: CommandSpec[] = [
  {
    path: "DKIM ADD",
    usage: ["DKIM ADD DOMAIN=<domain> [SELECTOR=<s>] [TYPE=RSA|ED25519]"],
    summary:
      "create a signing key (RSA 2048 by default; selector x<yyyymmdd>); it signs from now on",
    keys: ["DOMAIN", "SELECTOR", "TYPE"],
    async run({ ctx, params }) {
      const domain = existingDomain(ctx, params.need("DOMAIN", "domain"));
      const typeText = (params.get("TYPE") ?? "RSA").trim().toUpperCase();
      if (typeText !== "RSA" && typeText !== "ED25519") {
        throw new AdminError(`TYPE=${typeText} is not a key type; use TYPE=RSA or TYPE=ED25519`);
      }
      try {
        const selector = checkSelector(params.get("SELECTOR") ?? defaultSelector());
        const key = await ctx.auth.keys.add(
          domain,
          selector,
          typeText === "RSA" ? "rsa" : "ed25519",
        );
        return ok(`DKIM key ${key.selector} added for ${domain}; publish the record`, [
          kv("Domain", domain),
          kv("Selector", key.selector),
          kv("Type", typeText),
          recordLine(key),
        ]);
      } catch (e) {
        if (e instanceof DkimKeyError) throw new AdminError(e.message);
        throw e;
      }
    },
  },
  {
    path: "DKIM DEL",
    usage: ["DKIM DEL DOMAIN=<domain> SELECTOR=<s>"],
    summary: "delete a signing key (the next newest key of the domain signs)",
    keys: ["DOMAIN", "SELECTOR"],
    async run({ ctx, params }) {
      const domain = existingDomain(ctx, params.need("DOMAIN", "domain"));
      const selector = params.need("SELECTOR", "s").trim().toLowerCase();
      if (!(await ctx.auth.keys.remove(domain, selector))) {
        throw new AdminError(
          `domain ${domain} has no DKIM key with SELECTOR=${selector}; DKIM SHOW DOMAIN=${domain} lists them`,
        );
      }
      const next = ctx.auth.keys.active(domain);
      return ok(
        `DKIM key ${selector} of ${domain} deleted; ${
          next ? `key ${next.selector} signs now` : "the domain's mail is no longer signed"
        }`,
      );
    },
  },
  {
    path: "DKIM SHOW",
    usage: ["DKIM SHOW ALL", "DKIM SHOW DOMAIN=<domain>"],
    summary: "signing keys with the DNS record of each; the newest of a domain signs",
    keys: ["DOMAIN"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      if (words.includes("ALL") && params.has("DOMAIN")) {
        throw new AdminError("DKIM SHOW takes either ALL or DOMAIN=, not both");
      }
      const domain = params.has("DOMAIN")
        ? existingDomain(ctx, params.need("DOMAIN", "domain"))
        : undefined;
      const keys = ctx.auth.keys.list(domain);
      const lines = keys.map((k) =>
        keyLine(k, ctx.auth.keys.active(k.domain)?.selector === k.selector)
      );
      return ok(plural(keys.length, "DKIM key"), lines);
    },
  },
];
