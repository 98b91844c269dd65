/**
 * The attacks of issue 13 for bench/hostile.ts. Each is bounded in time and size, talks
 * only to the daemon on 127.0.0.1, cleans up its connections and returns one line saying
 * what it did (and what the server answered).
 */
import { parallel, RawClient, sleep } from "./_hostile_net.ts";

export interface AttackEnv {
  ports: Record<string, number>;
  domain: string;
  /** A user with an autoreply set (SMTP policy reads headers an attacker wrote). */
  autoreplyUser: string;
  /** A user whose INBOX holds large messages, and a 70-character folder. */
  reader: string;
  password: string;
  /** Stops an attack early (the daemon's RSS passed the safety limit). */
  aborted: () => boolean;
}

export interface Attack {
  name: string;
  run: (env: AttackEnv) => Promise<string>;
}

const MiB = 1 << 20;

/** A body of `bytes` octets in 76-character CRLF lines. */
export function bodyOf(bytes: number): Uint8Array {
  const line = new TextEncoder().encode("x".repeat(74) + "\r\n");
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += line.length) out.set(line.subarray(0, bytes - at), at);
  return out;
}

/** One SMTP transaction on port 25 with a body of `body`; the final reply. */
export async function sendMail(
  port: number,
  to: string,
  body: Uint8Array,
  opts: { aborted?: () => boolean; writeMs?: number } = {},
): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    await c.smtp();
    await c.write(`EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<${to}>\r\n`);
    for (let i = 0; i < 3; i++) await c.smtp();
    await c.write("DATA\r\n");
    const go = await c.smtp();
    if (!go?.startsWith("354")) return go ?? "closed";
    for (let at = 0; at < body.length && !c.closed; at += MiB) {
      if (opts.aborted?.()) return "aborted";
      if (!(await c.write(body.subarray(at, at + MiB), opts.writeMs ?? 60_000))) return "stalled";
    }
    await c.write("\r\n.\r\n");
    return (await c.smtp(120_000)) ?? "closed";
  } finally {
    c.destroy();
  }
}

/**
 * One IMAP APPEND of `body` to INBOX on a logged-in session, as a LITERAL+ literal
 * (RFC 7888: sent without waiting for "+"); the tagged reply. The session is closed.
 */
export async function appendMessage(
  c: RawClient,
  body: Uint8Array,
  opts: { aborted?: () => boolean } = {},
): Promise<string> {
  try {
    await c.write(`a APPEND INBOX {${body.length}+}\r\n`);
    for (let at = 0; at < body.length && !c.closed; at += MiB) {
      if (opts.aborted?.()) return "aborted";
      if (!(await c.write(body.subarray(at, at + MiB), 60_000))) return "stalled";
    }
    await c.write("\r\n");
    const r = await c.until((l) => l.startsWith("a "), 120_000);
    return r?.[r.length - 1] ?? "closed";
  } finally {
    c.destroy();
  }
}

/** A session logged in as `user` (throws with the server's answer when it is not). */
export async function imapLogin(port: number, user: string, password: string): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.line();
  await c.write(`l LOGIN ${user} ${password}\r\n`);
  const r = await c.until((l) => l.startsWith("l "), 30_000);
  if (!r?.[r.length - 1].startsWith("l OK")) throw new Error(`login: ${r?.join(" | ")}`);
  return c;
}

function tally(replies: (string | null)[]): string {
  const counts = new Map<string, number>();
  for (const r of replies) {
    // An IMAP tagged reply counts by its status ("OK", "NO [UNAVAILABLE]"), not its tag.
    const key = r === null ? "none" : r.replace(/^[a-z]\d* (?=OK|NO|BAD)/, "").slice(0, 16);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n}x "${k}"`).join(", ");
}

export const ATTACKS: Attack[] = [
  {
    name: "quadratic-headers",
    async run(env) {
      // A 64 KB folded Auto-Submitted: ((((... header plus 80 KB of "<" in an HTML part,
      // unauthenticated on port 25, to a user with an autoreply.
      const fold = Array.from({ length: 900 }, () => "(".repeat(70)).join("\r\n ");
      const html = Array.from({ length: 1080 }, () => "<".repeat(76)).join("\r\n");
      const msg = new TextEncoder().encode(
        `From: a@attacker.example\r\nTo: ${env.autoreplyUser}\r\nSubject: hi\r\n` +
          `Auto-Submitted: ${fold}\r\nContent-Type: text/html\r\n\r\n${html}\r\n`,
      );
      const replies: string[] = [];
      await parallel(4, async () => {
        for (let i = 0; i < 5 && !env.aborted(); i++) {
          replies.push(await sendMail(env.ports.smtp, env.autoreplyUser, msg));
        }
      });
      return `20 messages of ${msg.length} bytes: ${tally(replies)}`;
    },
  },
  {
    name: "search-html",
    async run(env) {
      // SEARCH BODY over the messages above (htmlToText on 80 KB of "<").
      const c = await imapLogin(env.ports.imap, env.autoreplyUser, env.password);
      try {
        await c.write("s SELECT INBOX\r\n");
        await c.until((l) => l.startsWith("s "), 30_000);
        const out: string[] = [];
        for (let i = 0; i < 3; i++) {
          await c.write(`q${i} SEARCH BODY nothing-like-this\r\n`);
          const r = await c.until((l) => l.startsWith(`q${i} `), 120_000);
          out.push(r?.[r.length - 1] ?? "none");
        }
        return `3 SEARCH BODY: ${tally(out)}`;
      } finally {
        c.destroy();
      }
    },
  },
  {
    name: "list-wildcards",
    async run(env) {
      const replies: (string | null)[] = [];
      await parallel(4, async () => {
        const c = await imapLogin(env.ports.imap, env.reader, env.password);
        try {
          for (let i = 0; i < 25 && !env.aborted(); i++) {
            await c.write(`w${i} LIST "" "*a*a*a*a*a*a*a*a*b"\r\n`);
            const r = await c.until((l) => l.startsWith(`w${i} `), 60_000);
            replies.push(r?.[r.length - 1] ?? null);
          }
        } finally {
          c.destroy();
        }
      });
      return `100 LIST "*a*a*a*a*a*a*a*a*b" against a 70-character folder: ${tally(replies)}`;
    },
  },
  {
    name: "preauth-literal",
    async run(env) {
      // "a LOGIN {26214400}" before authentication, then the data as fast as it goes.
      const answers: (string | null)[] = [];
      const chunk = new Uint8Array(MiB).fill(0x61);
      await parallel(10, async () => {
        const c = await RawClient.connect(env.ports.imap);
        try {
          await c.line();
          await c.write("a LOGIN {26214400}\r\n");
          const answer = await c.line(10_000);
          answers.push(answer);
          if (!answer?.startsWith("+")) return;
          for (let i = 0; i < 25 && !c.closed && !env.aborted(); i++) {
            if (!(await c.write(chunk, 10_000))) break;
          }
        } finally {
          c.destroy();
        }
      });
      return `10 x LOGIN {26214400}: ${tally(answers)}`;
    },
  },
  {
    name: "data-25mib",
    async run(env) {
      const body = bodyOf(25 * MiB - 1024);
      const replies: string[] = [];
      await parallel(4, async () => {
        replies.push(await sendMail(env.ports.smtp, env.reader, body, { aborted: env.aborted }));
      });
      return `4 x 25 MiB DATA: ${tally(replies)}`;
    },
  },
  {
    name: "noop-flood-unread",
    async run(env) {
      // 15 MiB of pipelined NOOPs per connection; the replies are never read.
      const flood = new TextEncoder().encode("NOOP\r\n".repeat(MiB / 6));
      let written = 0;
      await parallel(4, async () => {
        const c = await RawClient.connect(env.ports.smtp);
        c.pause();
        try {
          for (let i = 0; i < 15 && !c.closed && !env.aborted(); i++) {
            if (!(await c.write(flood, 5_000))) break;
            written += flood.length;
          }
        } finally {
          c.destroy();
        }
      });
      return `4 connections wrote ${(written / MiB).toFixed(0)} MiB of NOOPs, reading nothing`;
    },
  },
  {
    name: "unknown-rcpts",
    async run(env) {
      let answered = 0, closedAfter = 0;
      await parallel(5, async () => {
        const c = await RawClient.connect(env.ports.smtp);
        try {
          await c.smtp();
          await c.write("EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\n");
          await c.smtp();
          await c.smtp();
          let batch = "";
          for (let i = 0; i < 300; i++) batch += `RCPT TO:<guess${i}@${env.domain}>\r\n`;
          await c.write(batch);
          for (let i = 0; i < 300; i++) {
            const r = await c.smtp(10_000);
            if (r === null) break;
            answered++;
            if (r.startsWith("421")) closedAfter++;
          }
        } finally {
          c.destroy();
        }
      });
      return `5 x 300 pipelined unknown RCPTs: ${answered} replies, ${closedAfter} sessions ended with 421`;
    },
  },
  {
    name: "slowloris",
    async run(env) {
      // 100 connections per protocol, one byte of a never-ending line per second, 10 s.
      const clients: RawClient[] = [];
      for (const port of [env.ports.smtp, env.ports.pop3, env.ports.imap]) {
        for (let i = 0; i < 100; i++) clients.push(await RawClient.connect(port));
      }
      for (let s = 0; s < 10 && !env.aborted(); s++) {
        await Promise.all(clients.map((c) => c.write("x", 2_000)));
        await sleep(1000);
      }
      const open = clients.filter((c) => !c.closed).length;
      for (const c of clients) c.destroy();
      return `300 slow clients for 10 s: ${open} still open at the end`;
    },
  },
  {
    name: "fetch-unread",
    async run(env) {
      // FETCH every message's body (large ones) and never read the answer, for 10 s.
      const clients = await Promise.all(
        [0, 1, 2, 3].map(() => imapLogin(env.ports.imap, env.reader, env.password)),
      );
      try {
        for (const c of clients) {
          await c.write("s SELECT INBOX\r\n");
          await c.until((l) => l.startsWith("s "), 30_000);
          c.pause();
          await c.write("f FETCH 1:* BODY[]\r\n");
        }
        for (let s = 0; s < 10 && !env.aborted(); s++) await sleep(1000);
        return `4 clients FETCH 1:* BODY[] and read nothing for 10 s`;
      } finally {
        for (const c of clients) c.destroy();
      }
    },
  },
  {
    name: "tls-half-open",
    async run(env) {
      // 1,000 connections to IMAPS that begin a TLS record and never finish the handshake.
      const clients: RawClient[] = [];
      const partialHello = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
      for (let i = 0; i < 1000 && !env.aborted(); i++) {
        const c = await RawClient.connect(env.ports.imaps);
        clients.push(c);
        void c.write(partialHello, 2_000);
      }
      for (let s = 0; s < 5 && !env.aborted(); s++) await sleep(1000);
      const open = clients.filter((c) => !c.closed).length;
      for (const c of clients) c.destroy();
      return `1000 half-open TLS handshakes held 5 s: ${open} still open`;
    },
  },
  {
    name: "password-guessing",
    async run(env) {
      // 20 connections from 127.0.0.2 guess the reader's password for 8 s.
      const results: (string | null)[] = [];
      const until = Date.now() + 8_000;
      await parallel(20, async (i) => {
        let n = 0;
        while (Date.now() < until && !env.aborted()) {
          const c = await RawClient.connect(env.ports.imap, { from: "127.0.0.2" });
          try {
            await c.line();
            while (Date.now() < until && !c.closed) {
              await c.write(`g LOGIN ${env.reader} wrong-${i}-${n++}\r\n`);
              const r = await c.until((l) => l.startsWith("g "), 10_000);
              if (!r) break;
              results.push(r[r.length - 1]);
            }
          } finally {
            c.destroy();
          }
        }
      });
      return `20 connections, ${results.length} guesses in 8 s: ${tally(results)}`;
    },
  },
];
