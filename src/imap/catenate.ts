/**
 * CATENATE (RFC 4469): an APPEND message put together from literal TEXT parts and URL
 * parts that name messages or sections in the user's own mailboxes (RFC 5092 URLs, see
 * imap_url.ts). A URL that does not resolve — unknown mailbox, UIDVALIDITY changed,
 * no such UID or section, another server or user, URLAUTH — makes the whole APPEND fail
 * with NO [BADURL url] (§5); a result over MaxMailSize with NO [TOOBIG].
 */
import type { Folder } from "../store/folder/folder.ts";
import { partial, sectionBytes } from "../message/section.ts";
import { bad, type ImapError, mailboxName, no, tokenText } from "./args.ts";
import { parseMessageUrl } from "./imap_url.ts";
import { parseSection, SectionError } from "./mime/section.ts";
import { MessageData } from "./msgcache.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";

/** NO [BADURL <url>] (RFC 4469 §6: the url-resp-text cannot hold "]"). */
function badUrl(url: string, why: string): ImapError {
  const shown = url.replace(/[\]\r\n]/g, "").slice(0, 500);
  return no(`Bad URL: ${why}`, `BADURL ${shown}`);
}

/** Whether an absolute URL's host and user name this server and the session's user. */
function isOurs(s: Session, host: string | null, user: string | null): boolean {
  if (host !== null) {
    const local = [
      s.ctx.config.HostName,
      "localhost",
      s.conn.localAddress,
      `[${s.conn.localAddress}]`,
    ]
      .map((h) => h.toLowerCase());
    if (!local.includes(host)) return false;
  }
  if (user !== null) {
    const me = s.user!;
    const found = s.ctx.directory.findLogin(user);
    if (!found || found.name !== me.name || found.domain !== me.domain) return false;
  }
  return true;
}

/** The bytes a URL part names. */
async function urlBytes(s: Session, url: string): Promise<Uint8Array> {
  const u = parseMessageUrl(url);
  if (!u) throw badUrl(url, "not an IMAP URL naming a message");
  if (!isOurs(s, u.host, u.user)) throw badUrl(url, "not a mailbox of this user on this server");
  let name: string;
  try {
    name = mailboxName(u.mailbox, true);
  } catch {
    throw badUrl(url, "bad mailbox name");
  }
  let folder: Folder | null;
  try {
    folder = await s.ctx.store.openFolder(s.root, name);
  } catch {
    folder = null;
  }
  if (!folder) throw badUrl(url, "no such mailbox");
  if (u.uidValidity !== null && u.uidValidity !== folder.uidValidity) {
    throw badUrl(url, "UIDVALIDITY has changed");
  }
  const entry = folder.messages.get(u.uid);
  if (!entry) throw badUrl(url, "no such message");
  const data = new MessageData(folder, entry);
  let bytes: Uint8Array;
  try {
    bytes = await data.bytes();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw badUrl(url, "message was expunged");
    throw e;
  }
  if (u.section !== "") {
    let section;
    try {
      section = parseSection(u.section);
    } catch (e) {
      if (e instanceof SectionError) throw badUrl(url, e.message);
      throw e;
    }
    bytes = sectionBytes(bytes, await data.structure(), section);
  }
  if (u.partial) bytes = partial(bytes, u.partial.offset, u.partial.length);
  return bytes;
}

/**
 * The message a CATENATE list describes: `(TEXT literal URL url ...)`, in order. TEXT
 * takes a literal (or a literal8 with BINARY); the parts are concatenated as they are.
 */
export async function catenate(s: Session, parts: Token[]): Promise<Uint8Array> {
  if (parts.length === 0) throw bad("Empty CATENATE list");
  if (parts.length % 2 !== 0) throw bad("CATENATE parts come as TEXT literal or URL url");
  const pieces: Uint8Array[] = [];
  let size = 0;
  const max = s.ctx.config.MaxMailSize;
  for (let i = 0; i < parts.length; i += 2) {
    const kind = parts[i].kind === "atom"
      ? (parts[i] as { value: string }).value.toUpperCase()
      : "";
    const value = parts[i + 1];
    let bytes: Uint8Array;
    if (kind === "TEXT") {
      if (value.kind !== "string" || !value.literal) throw bad("CATENATE TEXT needs a literal");
      bytes = value.bytes;
    } else if (kind === "URL") {
      bytes = await urlBytes(s, tokenText(value, "URL"));
    } else throw bad(`Unknown CATENATE part ${kind.slice(0, 20) || "(list)"}`);
    size += bytes.length;
    if (max > 0 && size > max) throw no("Message would be too large", "TOOBIG");
    pieces.push(bytes);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
