/**
 * Mailbox patterns of LIST and LSUB (RFC 3501 §6.3.8, RFC 9051 §6.3.9; NOTIFY's mailbox
 * filters use the same form): `*` matches any characters, `%` any but the hierarchy
 * delimiter "/". A pattern is a client's text, so it is never made into a regular
 * expression (a backtracking engine is exponential in the number of wildcards); it runs
 * as a bit-parallel automaton instead: one step per character of the name, each step a
 * few operations per 32 pattern positions.
 *
 * "INBOX" is case-insensitive (RFC 3501 §5.1), also as the first level of a pattern.
 */

export interface MailboxMatcher {
  test(name: string): boolean;
  /** The pattern has a "%" (LSUB lists unsubscribed parents only then, RFC 3501 §6.3.9). */
  readonly hasPercent: boolean;
}

const STAR = -1, PERCENT = -2;
const SLASH = 0x2f;
/**
 * A mailbox name is at most 255 characters (one Maildir++ directory name, maildir_names.ts;
 * subscriptions name existing mailboxes): a pattern with more literal characters than this
 * matches nothing, and the automaton of any other stays small (its tables grow with the
 * pattern's length times its distinct characters).
 */
const MAX_LITERALS = 1024;
const NOTHING: MailboxMatcher = { test: () => false, hasPercent: false };

export function compileMailboxPattern(pattern: string): MailboxMatcher {
  // Items: a character code, or a wildcard. Runs of wildcards collapse: "**" and "%*" are
  // "*", "%%" is "%"; then no two wildcards are adjacent and each state needs one hop.
  const items: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    const item = c === 0x2a ? STAR : c === 0x25 ? PERCENT : c;
    const last = items.length - 1;
    if (item < 0 && last >= 0 && items[last] < 0) {
      if (item === STAR) items[last] = STAR;
      continue;
    }
    items.push(item);
  }
  const literals = items.filter((x) => x >= 0).length;
  if (literals > MAX_LITERALS) return { ...NOTHING, hasPercent: items.includes(PERCENT) };
  const inboxFold = /^inbox(\/|$)/i.test(pattern) ? 5 : 0;
  const hasPercent = items.includes(PERCENT);
  const m = items.length; // states 0..m; state i = the first i items matched
  const words = (m >>> 5) + 1;
  const star = new Uint32Array(words), percent = new Uint32Array(words);
  /** Per character: the states i whose item i is that character. */
  const byChar = new Map<number, Uint32Array>();
  const set = (bits: Uint32Array, i: number) => bits[i >>> 5] |= 1 << (i & 31);
  items.forEach((item, i) => {
    if (item === STAR) return set(star, i);
    if (item === PERCENT) return set(percent, i);
    const chars = i < inboxFold ? [item | 0x20, item & ~0x20] : [item];
    for (const c of chars) {
      let bits = byChar.get(c);
      if (!bits) byChar.set(c, bits = new Uint32Array(words));
      set(bits, i);
    }
  });
  const wild = star.map((w, k) => w | percent[k]);
  const acceptWord = m >>> 5, acceptBit = 1 << (m & 31);

  let cur = new Uint32Array(words), next = new Uint32Array(words);
  /** Adds the wildcard hops: a wildcard state also stands for the state after it. */
  const close = (bits: Uint32Array) => {
    let carry = 0;
    for (let k = 0; k < words; k++) {
      const hop = bits[k] & wild[k];
      const shifted = ((hop << 1) | carry) >>> 0;
      carry = hop >>> 31;
      bits[k] |= shifted;
    }
  };

  return {
    hasPercent,
    test(name: string): boolean {
      // Each literal item consumes one character: a shorter name cannot match.
      if (name.length < literals) return false;
      cur.fill(0);
      cur[0] = 1;
      close(cur);
      for (let i = 0; i < name.length; i++) {
        const c = name.charCodeAt(i);
        const lit = byChar.get(c);
        let carry = 0, any = 0;
        for (let k = 0; k < words; k++) {
          const stay = cur[k] & (c === SLASH ? star[k] : wild[k]);
          const step = lit ? cur[k] & lit[k] : 0;
          const moved = ((step << 1) | carry) >>> 0;
          carry = step >>> 31;
          next[k] = stay | moved;
          any |= next[k];
        }
        if (any === 0) return false;
        close(next);
        [cur, next] = [next, cur];
      }
      return (cur[acceptWord] & acceptBit) !== 0;
    },
  };
}
