/** Test DKIM keys made in memory (the server's own come from DKIM ADD). */
import { generateKeyPairSync } from "node:crypto";
import type { DkimKey } from "../../src/mailauth/keys.ts";

export function testKey(domain: string, selector: string, type: "rsa" | "ed25519"): DkimKey {
  const { privateKey } = type === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return { domain, selector, type, created: Date.now(), privateKey: pem };
}
