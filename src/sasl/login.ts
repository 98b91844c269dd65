/**
 * The LOGIN mechanism (draft-murchison-sasl-login-00, offered by SMTP AUTH only): the
 * server prompts "Username:" then "Password:", each answered with one base64 line of
 * UTF-8 text. Pure; the SMTP session runs the exchange.
 */
import { encodeBase64 } from "./base64.ts";

/** §2: the prompts as they go on the wire (334 <prompt>). */
export const LOGIN_USERNAME_PROMPT = encodeBase64("Username:");
export const LOGIN_PASSWORD_PROMPT = encodeBase64("Password:");

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A decoded answer (user name or password) as text; null when it is not UTF-8. */
export function decodeLoginText(answer: Uint8Array): string | null {
  try {
    return utf8.decode(answer);
  } catch {
    return null;
  }
}
