/**
 * Pure SASL helpers for SMTP AUTH (RFC 4954): base64 responses (RFC 4954 4), the
 * PLAIN mechanism (RFC 4616) and LOGIN (draft-murchison-sasl-login).
 */
import { fail } from "./replies.ts";

export type Mechanism = "PLAIN" | "LOGIN";
export const MECHANISMS: readonly Mechanism[] = ["PLAIN", "LOGIN"];

/** RFC 4954 4: an AUTH line (initial response included) may be 12288 octets. */
export const MAX_AUTH_LINE = 12288;

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `AUTH <mechanism> [initial-response]` (RFC 4954 4). */
export function parseAuthCommand(arg: string): { mechanism: string; initial: string | null } {
  const m = /^([A-Za-z0-9_-]{1,20})(?:[ \t]+(\S+))?$/.exec(arg);
  if (!m) fail(501, "5.5.4", "Syntax: AUTH <mechanism> [initial-response]");
  return { mechanism: m[1].toUpperCase(), initial: m[2] ?? null };
}

/**
 * Decodes one client response. "=" is the empty initial response (RFC 4954 4);
 * the caller handles "*" (cancel) before calling.
 */
export function decodeResponse(text: string): Uint8Array {
  if (text === "=") return new Uint8Array(0);
  if (!B64.test(text)) fail(501, "5.5.2", "Error: cannot decode base64 response");
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** RFC 4616 2: message = [authzid] NUL authcid NUL passwd. */
export function decodePlain(bytes: Uint8Array): { login: string; password: string } {
  const first = bytes.indexOf(0);
  const second = first < 0 ? -1 : bytes.indexOf(0, first + 1);
  if (first < 0 || second < 0 || bytes.indexOf(0, second + 1) >= 0) {
    fail(501, "5.5.2", "Error: malformed PLAIN response");
  }
  const authzid = text(bytes.subarray(0, first));
  const login = text(bytes.subarray(first + 1, second));
  const password = text(bytes.subarray(second + 1));
  // No proxy authorization: an authzid must name the same identity.
  if (authzid !== "" && authzid.toLowerCase() !== login.toLowerCase()) {
    fail(535, "5.7.8", "Error: authorization identity differs from authentication identity");
  }
  return { login, password };
}

/** A LOGIN answer (user name or password): UTF-8 text. */
export function decodeText(bytes: Uint8Array): string {
  return text(bytes);
}

function text(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    fail(501, "5.5.2", "Error: credentials are not valid UTF-8");
  }
}

/** The LOGIN mechanism's prompts, base64 of "Username:" and "Password:". */
export const LOGIN_USERNAME = btoa("Username:");
export const LOGIN_PASSWORD = btoa("Password:");
