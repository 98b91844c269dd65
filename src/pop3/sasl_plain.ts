/**
 * SASL PLAIN (RFC 4616) as POP3 carries it (RFC 5034 §4): base64 of
 * `authzid NUL authcid NUL passwd`. Pure decoding; the session checks the credentials.
 */

export interface PlainCredentials {
  /** Authorization identity; "" when the client acts as itself. */
  authzid: string;
  authcid: string;
  password: string;
}

export type PlainResult =
  | { ok: true; credentials: PlainCredentials }
  | { ok: false; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** RFC 4648 §4 base64 with padding; RFC 5034 §4 says "=" alone stands for an empty response. */
export function decodeBase64(text: string): Uint8Array | null {
  if (text === "=") return new Uint8Array();
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function decodePlain(response: string): PlainResult {
  const bytes = decodeBase64(response.trim());
  if (!bytes) return { ok: false, reason: "invalid base64 in SASL response" };
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0) {
      parts.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  // RFC 4616 §2: exactly two NULs; authcid and passwd are not empty.
  if (parts.length !== 3 || parts[1].length === 0 || parts[2].length === 0) {
    return {
      ok: false,
      reason: "malformed PLAIN response (expected authzid NUL authcid NUL password)",
    };
  }
  try {
    const [authzid, authcid, password] = parts.map((p) => utf8.decode(p));
    return { ok: true, credentials: { authzid, authcid, password } };
  } catch {
    return { ok: false, reason: "PLAIN response is not valid UTF-8" };
  }
}
