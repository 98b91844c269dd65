/** RFC 5322 §3.6.4 message identifiers: new ones, and those a field value lists. */
import { isAsciiSpace } from "./controls.ts";

/** A new, globally unique msg-id `<time.uuid@host>`. */
export function newMessageId(hostName: string): string {
  return `<${Date.now().toString(36)}.${crypto.randomUUID()}@${hostName}>`;
}

/**
 * The msg-id tokens of a field value (Message-ID, In-Reply-To, References), `<...>`
 * included, in order: a "<", then at least one character that is neither white space
 * nor an angle bracket, then ">". One pass.
 */
export function messageIds(value: string | undefined): string[] {
  const ids: string[] = [];
  if (!value) return ids;
  let i = value.indexOf("<");
  while (i >= 0) {
    let k = i + 1;
    while (k < value.length) {
      const c = value.charCodeAt(k);
      if (c === 60 || c === 62 || isAsciiSpace(c)) break;
      k++;
    }
    if (value.charCodeAt(k) === 62 && k > i + 1) ids.push(value.slice(i, k + 1));
    i = value.indexOf("<", k);
  }
  return ids;
}
