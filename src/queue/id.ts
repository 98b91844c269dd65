/**
 * Queue ids (SPEC §5): named in the 250 reply, by QUEUE SHOW and in the logs.
 * 14 upper-case base-32 characters: 9 of time (ms, so ids sort by arrival) and 5 random.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * Random octets drawn 64 ids at a time: one getRandomValues call (a native op) per id was
 * a cost per message (docs/performance.md, "CPU per connection at -s 4").
 */
const RANDOM_PER_ID = 5;
const randomPool = new Uint8Array(64 * RANDOM_PER_ID);
let randomUsed = randomPool.length;

export function newQueueId(now = Date.now()): string {
  let t = now;
  let time = "";
  for (let i = 0; i < 9; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (randomUsed === randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomUsed = 0;
  }
  let tail = "";
  for (let i = 0; i < RANDOM_PER_ID; i++) tail += ALPHABET[randomPool[randomUsed++] % 32];
  return time + tail;
}

export function isQueueId(text: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{14}$/.test(text);
}
