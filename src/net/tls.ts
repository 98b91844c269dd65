/**
 * TLS server contexts from TLSCert/TLSKey. Sessions ask for the *current* context
 * each time they upgrade, so RELOAD can swap certificates without a restart.
 */
import { createSecureContext, type SecureContext } from "node:tls";

export async function loadTlsContext(
  certPath: string,
  keyPath: string,
): Promise<SecureContext | null> {
  if (!certPath || !keyPath) return null;
  const [cert, key] = await Promise.all([Deno.readTextFile(certPath), Deno.readTextFile(keyPath)]);
  // RFC 8996 / RFC 8314 4.1: TLS 1.2 or later only.
  return createSecureContext({ cert, key, minVersion: "TLSv1.2" });
}
