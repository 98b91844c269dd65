/**
 * The PLAIN mechanism (RFC 4616): `message = [authzid] NUL authcid NUL passwd`, each part
 * UTF-8 without NUL (§2). One decoder for SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE, the
 * encoder for the outbound client's AUTH to a smart host, and the one rule for an authzid.
 */
import { encodeBase64 } from "./base64.ts";

export interface PlainCredentials {
  /** Authorization identity; "" when the client acts as itself (§2). */
  authzid: string;
  /** Authentication identity: the login name. */
  authcid: string;
  password: string;
}

export type PlainResult =
  | { ok: true; credentials: PlainCredentials }
  | { ok: false; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Splits a decoded PLAIN message; `reason` says what is wrong for the client's reply. */
export function decodePlain(message: Uint8Array): PlainResult {
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  // §2: exactly two NULs; authcid = 1*SAFE and passwd = 1*SAFE, so neither is empty.
  if (first < 0 || second < 0 || message.indexOf(0, second + 1) >= 0) {
    return {
      ok: false,
      reason: "malformed PLAIN response (expected authzid NUL authcid NUL passwd)",
    };
  }
  if (second === first + 1 || second === message.length - 1) {
    return { ok: false, reason: "malformed PLAIN response (empty login name or password)" };
  }
  try {
    return {
      ok: true,
      credentials: {
        authzid: utf8.decode(message.subarray(0, first)),
        authcid: utf8.decode(message.subarray(first + 1, second)),
        password: utf8.decode(message.subarray(second + 1)),
      },
    };
  } catch {
    return { ok: false, reason: "PLAIN response is not valid UTF-8" };
  }
}

/** The base64 PLAIN message a client sends (no authzid: act as the login itself). */
export function encodePlain(authcid: string, password: string, authzid = ""): string {
  return encodeBase64(`${authzid}\u0000${authcid}\u0000${password}`);
}

/** What a login name resolves to: the directory's user record, or anything of its shape. */
export interface Account {
  name: string;
  domain: string;
}

/**
 * §2: a server that does not offer proxy authorization must refuse an authzid it cannot
 * grant. Ours grants exactly one: the authenticated account itself, by any of its login
 * names (user@domain or a MAP name, SPEC §5). `accountOf` is the directory's look-up.
 * Called after the password was checked, so the answer reveals nothing about accounts.
 */
export function authorizesSelf(
  authzid: string,
  user: Account,
  accountOf: (login: string) => Account | undefined,
): boolean {
  if (authzid === "") return true;
  const target = accountOf(authzid);
  return target !== undefined && target.name === user.name && target.domain === user.domain;
}
