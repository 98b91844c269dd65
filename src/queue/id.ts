/**
 * Queue ids (SPEC §5): named in the 250 reply, by QUEUE SHOW and in the logs.
 * 14 upper-case base-32 characters: 9 of time (ms, so ids sort by arrival) and 5 random.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function newQueueId(now = Date.now()): string {
  let t = now;
  let time = "";
  for (let i = 0; i < 9; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = crypto.getRandomValues(new Uint8Array(5));
  let tail = "";
  for (const b of rnd) tail += ALPHABET[b % 32];
  return time + tail;
}

export function isQueueId(text: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{14}$/.test(text);
}
