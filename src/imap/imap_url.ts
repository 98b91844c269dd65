/**
 * IMAP URLs that name one message or part of it (RFC 5092 §6 "imapurl", the forms
 * CATENATE takes, RFC 4469 §5): absolute `imap://user@host/Drafts;UIDVALIDITY=385759045/
 * ;UID=20/;SECTION=1.MIME/;PARTIAL=0.1024` or relative to this server and user,
 * `/Drafts;UIDVALIDITY=385759045/;UID=20`. Pure; malformed input gives null (the caller
 * answers NO [BADURL]). URLAUTH (RFC 4467) is not supported, so such URLs are refused.
 */
import { decodeMutf7 } from "../store/mutf7.ts";

export interface MessageUrl {
  /** The user part of an absolute URL's authority (percent-decoded), if any. */
  user: string | null;
  /** Host (lower case) of an absolute URL; null for a relative one. */
  host: string | null;
  /** Mailbox name as UTF-8. */
  mailbox: string;
  uidValidity: number | null;
  uid: number;
  /** FETCH section text (RFC 5092 enc-section, decoded), "" for the whole message. */
  section: string;
  partial: { offset: number; length?: number } | null;
}

const NZ_NUMBER = /^[1-9][0-9]{0,9}$/;
const NUMBER = /^[0-9]{1,10}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** %XX decoding to bytes, then UTF-8; null for a bad escape or invalid UTF-8. */
function percentDecode(s: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x21 || c > 0x7e) return null;
    else bytes.push(c);
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/**
 * The mailbox of a URL: RFC 5092 §3.2 sends names as UTF-8 (percent-encoded); older
 * RFC 2192 clients send modified UTF-7, which is recognised by its "&" shifts.
 */
function mailboxOf(encoded: string): string | null {
  const name = percentDecode(encoded);
  if (name === null || name === "") return null;
  if (/[^\x20-\x7e]/.test(name) || !name.includes("&")) return name;
  try {
    return decodeMutf7(name);
  } catch {
    return name;
  }
}

/** Parses a URL naming a message (UID required), or null. */
export function parseMessageUrl(url: string): MessageUrl | null {
  let rest = url;
  let user: string | null = null;
  let host: string | null = null;
  if (/^imap:\/\//i.test(rest)) {
    rest = rest.slice(7);
    const slash = rest.indexOf("/");
    if (slash < 0) return null;
    const authority = rest.slice(0, slash);
    rest = rest.slice(slash);
    const at = authority.lastIndexOf("@");
    if (at >= 0) {
      // iuserinfo = enc-user [iauth] / [enc-user] iauth; ";AUTH=" is allowed and ignored.
      const userinfo = authority.slice(0, at).replace(/;AUTH=.*$/i, "");
      user = userinfo === "" ? null : percentDecode(userinfo);
      if (userinfo !== "" && user === null) return null;
    }
    host = authority.slice(at + 1).replace(/:[0-9]+$/, "").toLowerCase();
    if (host === "") return null;
  }
  if (!rest.startsWith("/")) return null;
  const segments = rest.slice(1).split("/");
  // enc-mailbox [";UIDVALIDITY=" n] "/" ";UID=" n ["/;SECTION=" s] ["/;PARTIAL=" p]
  const first = /^([^;]*)(?:;UIDVALIDITY=([^;/]*))?$/i.exec(segments[0]);
  if (!first) return null;
  const mailbox = mailboxOf(first[1]);
  if (mailbox === null) return null;
  let uidValidity: number | null = null;
  if (first[2] !== undefined) {
    if (!NZ_NUMBER.test(first[2])) return null;
    uidValidity = Number(first[2]);
  }
  const uidPart = /^;UID=(.*)$/i.exec(segments[1] ?? "");
  if (!uidPart || !NZ_NUMBER.test(uidPart[1]) || Number(uidPart[1]) > 0xffffffff) return null;
  let section = "";
  let partial: MessageUrl["partial"] = null;
  let i = 2;
  const sectionPart = /^;SECTION=(.*)$/i.exec(segments[i] ?? "");
  if (sectionPart) {
    const s = percentDecode(sectionPart[1]);
    if (s === null || s === "") return null;
    section = s;
    i++;
  }
  const partialPart = /^;PARTIAL=([0-9]+)(?:\.([0-9]+))?$/i.exec(segments[i] ?? "");
  if (partialPart) {
    if (!NUMBER.test(partialPart[1])) return null;
    if (partialPart[2] !== undefined && !NZ_NUMBER.test(partialPart[2])) return null;
    partial = {
      offset: Number(partialPart[1]),
      length: partialPart[2] === undefined ? undefined : Number(partialPart[2]),
    };
    i++;
  }
  // Anything more (";URLAUTH=", ";EXPIRE=", a search query) is not ours to resolve.
  if (i !== segments.length) return null;
  return { user, host, mailbox, uidValidity, uid: Number(uidPart[1]), section, partial };
}
