/**
 * DKIM signing (RFC 6376 §5, RFC 8463 for Ed25519) as SPEC §8 asks: relaxed/relaxed,
 * rsa-sha256 or ed25519-sha256, h= covering From, To, Cc, Subject, Date, Message-ID,
 * MIME-Version, Content-Type, Reply-To (and the other fields of RFC 6376 §5.4.1 that are
 * present), each of those nine listed once more than it occurs ("oversigned", §8.15), so
 * nobody can add a second From or a Reply-To without breaking the signature.
 *
 * mailauth's signer cannot list a field more often than it occurs, and its body hash copies
 * every chunk of a streamed message (twice), so both are done here: the relaxed body hash
 * of §3.4.4 in one pass with a buffer reused (body_hash.ts), the relaxed header
 * canonicalization of §3.4.2 over the chosen fields, and node:crypto signs.
 */
import { Buffer } from "node:buffer";
import { createHash, createPrivateKey, sign } from "node:crypto";
import { type HeaderBlock, parseHeaderBlock } from "../message/header.ts";
import { concatBytes } from "../message/header_rewrite.ts";
import { MessageContent } from "../store/content.ts";
import type { DkimKey } from "./keys.ts";
import { RelaxedBodyHash } from "./body_hash.ts";

/** Signed and oversigned: an extra, absent instance of each cannot be added. */
const OVERSIGNED = [
  "from",
  "to",
  "cc",
  "subject",
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "reply-to",
];
/** Signed when present (RFC 6376 §5.4.1 recommendations). */
const SIGNED_WHEN_PRESENT = [
  "sender",
  "content-transfer-encoding",
  "in-reply-to",
  "references",
  "list-id",
  "list-post",
  "list-unsubscribe",
  "list-unsubscribe-post",
  "auto-submitted",
];

const latin1 = new TextDecoder("latin1");

/** RFC 6376 §3.4.2 relaxed header canonicalization of one field (without CRLF). */
export function relaxedField(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).replace(/[ \t]+$/, "").toLowerCase();
  const value = raw.slice(colon + 1).replace(/\r?\n/g, "").replace(/[ \t]+/g, " ")
    .replace(/^ /, "").replace(/ $/, "");
  return `${name}:${value}`;
}

/** The fields to sign, RFC 6376 §5.4.2: several instances from the bottom up. */
function chooseFields(block: HeaderBlock): { names: string[]; canonical: string } {
  const names: string[] = [];
  let canonical = "";
  for (const name of [...OVERSIGNED, ...SIGNED_WHEN_PRESENT]) {
    const present = block.fields.filter((f) => f.name === name).reverse();
    for (const f of present) {
      names.push(name);
      canonical += relaxedField(latin1.decode(block.bytes.subarray(f.start, f.end))) + "\r\n";
    }
    // An instance that does not exist is the null string (§5.4.2).
    if (OVERSIGNED.includes(name)) names.push(name);
  }
  return { names, canonical };
}

/** `tag=value` pieces joined with "; " and folded before a piece that would pass 76 columns. */
function foldTags(tags: string[]): string {
  let out = "DKIM-Signature:";
  let line = out.length;
  for (const [i, tag] of tags.entries()) {
    const piece = ` ${tag}${i < tags.length - 1 ? ";" : ""}`;
    // b= starts a line of its own: its value follows, folded in pieces.
    if ((line + piece.length > 76 && line > 16) || tag === "b=") {
      out += "\r\n\t" + piece.slice(1);
      line = 8 + piece.length - 1;
    } else {
      out += piece;
      line += piece.length;
    }
  }
  return out;
}

/** Base64 broken into pieces of 64 with folding white space between them. */
function foldBase64(b64: string): string {
  const parts: string[] = [];
  for (let i = 0; i < b64.length; i += 64) parts.push(b64.slice(i, i + 64));
  return parts.join("\r\n\t ");
}

/**
 * The body hash (bh=) of the body that starts at `bodyStart`: content in pieces is read
 * a chunk at a time into one buffer, so a message in a file costs no memory of its size.
 */
async function bodyHash(message: Uint8Array | MessageContent, bodyStart: number): Promise<string> {
  const hash = new RelaxedBodyHash();
  if (message instanceof Uint8Array) {
    hash.push(message.subarray(bodyStart));
    return hash.digest();
  }
  let skip = bodyStart;
  for await (const view of message.views()) {
    if (skip >= view.length) {
      skip -= view.length;
      continue;
    }
    hash.push(skip > 0 ? view.subarray(skip) : view);
    skip = 0;
  }
  return hash.digest();
}

/** Bytes of a header read from content in pieces at most; a longer header is cut there. */
const MAX_HEADER_READ = 1024 * 1024;

/**
 * The header block of content in pieces, read from its start: complete lines are parsed
 * until the header has ended (at an empty line or a line that is no field) or
 * MAX_HEADER_READ octets were read. Only the header is kept.
 */
export async function readHeader(
  content: MessageContent,
): Promise<{ block: HeaderBlock; bodyStart: number }> {
  let acc: Uint8Array = new Uint8Array(0);
  for await (const view of content.views()) {
    acc = concatBytes([acc, view.subarray(0, MAX_HEADER_READ - acc.length)]);
    const complete = acc.length >= MAX_HEADER_READ ? acc.length : acc.lastIndexOf(10) + 1;
    const block = parseHeaderBlock(acc.subarray(0, complete));
    if (block.end < complete || acc.length >= MAX_HEADER_READ) {
      return { block: parseHeaderBlock(acc.slice(0, block.end)), bodyStart: block.bodyStart };
    }
  }
  const block = parseHeaderBlock(acc);
  return { block, bodyStart: block.bodyStart };
}

/**
 * The DKIM-Signature field (CRLF-terminated) to put on top of `message` (CRLF line ends),
 * all in memory or in pieces (a queued message in its file: read twice, the header, then
 * every chunk once for the body hash). Throws when the message cannot be signed (no From
 * header).
 */
export async function dkimSignature(
  message: Uint8Array | MessageContent,
  key: DkimKey,
): Promise<string> {
  const [only] = message instanceof MessageContent ? message.parts : [];
  if (only instanceof Uint8Array && only.length === (message as MessageContent).size) {
    message = only; // small content: one array in memory
  }
  let block: HeaderBlock, bodyStart: number;
  if (message instanceof MessageContent) {
    ({ block, bodyStart } = await readHeader(message));
  } else {
    block = parseHeaderBlock(message);
    bodyStart = block.bodyStart;
  }
  if (!block.fields.some((f) => f.name === "from")) {
    throw new Error("the message has no From header (RFC 6376 §5.4: From must be signed)");
  }
  const bh = await bodyHash(message, bodyStart);
  const t = Math.floor(Date.now() / 1000);
  const { names, canonical } = chooseFields(block);
  const algorithm = key.type === "ed25519" ? "ed25519-sha256" : "rsa-sha256";
  const header = foldTags([
    "v=1",
    `a=${algorithm}`,
    "c=relaxed/relaxed",
    `d=${key.domain}`,
    `s=${key.selector}`,
    `t=${t}`,
    `h=${names.join(":")}`,
    `bh=${bh}`,
    "b=",
  ]);
  // §3.7: the hash covers the chosen fields, then this field with an empty b=, no CRLF.
  const data = Buffer.from(canonical + relaxedField(header), "latin1");
  const privateKey = createPrivateKey(key.privateKey);
  // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data (PureEdDSA over the hash).
  const signature = key.type === "ed25519"
    ? sign(null, createHash("sha256").update(data).digest(), privateKey)
    : sign("sha256", data, privateKey);
  return `${header}${foldBase64(signature.toString("base64"))}\r\n`;
}
