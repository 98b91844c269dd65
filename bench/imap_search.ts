/**
 * IMAP SEARCH, SORT and THREAD on a 10,000-message mailbox (issues 8 and 16; run it with
 * --messages=100000 for the big-mailbox targets): flag-only, date, size, header and body
 * searches, SORT by ARRIVAL, DATE, FROM, SUBJECT and THREAD=REFERENCES through the real
 * daemon, each timed cold (fresh daemon: nothing parsed yet) and warm. Flag, size and date
 * keys never read a message file; header keys read each file once and then run from the
 * cache; SORT, THREAD and SUBJECT use the keys read in the background after SELECT (the
 * header of each file once, then kept in the folder index); BODY/TEXT read every
 * candidate. The last line is the headline:
 *
 *   imap_search: <n> messages; UNSEEN <ms> ms; SUBJECT <ms> ms (warm); SORT DATE <ms> ms; ...
 *
 *   deno task bench imap_search [--messages=10000] [--rounds=5]
 *
 * Messages are written straight into the Maildir's cur/ (with their flags and internal
 * dates), as another MDA would, so seeding 100,000 takes seconds, not an fsync each.
 */
import { seedUsers } from "../tests/helpers/imap.ts";
import { startTestServer } from "../tests/helpers/server.ts";
import { ImapLineClient, messagesAndRounds, PASS, seedMaildir, USER } from "./_imap_bench.ts";

const { n: N, rounds: ROUNDS } = messagesAndRounds(10_000);
const enc = new TextEncoder();

/** Plain text, quoted-printable Latin-1, base64 UTF-8 and multipart with attachments. */
function messageAt(i: number): Uint8Array {
  const head = [
    `From: Sender ${i % 97} <sender${i % 97}@example.org>`,
    `To: Bench <${USER}>`,
    // Threads of five: a root and four replies that name it (RFC 5256 REFERENCES).
    `Subject: ${i % 5 ? "Re: " : ""}${i % 14 === 0 ? "weekly report" : "message"} ${i - i % 5}`,
    `Date: Mon, ${1 + i % 28} Jan 2024 10:${String(i % 60).padStart(2, "0")}:00 +0000`,
    `Message-ID: <${i}@bench.example>`,
    ...(i % 5 ? [`References: <${i - i % 5}@bench.example>`] : []),
    "MIME-Version: 1.0",
  ];
  const words = `Lorem ipsum dolor sit amet ${i}, consectetur adipiscing elit.\r\n`;
  const text = words.repeat(20 + i % 60) + (i % 500 === 10 ? "the rare needle phrase\r\n" : "");
  let body: string;
  switch (i % 4) {
    case 0:
      head.push('Content-Type: multipart/mixed; boundary="b1"');
      body = `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}--b1\r\n` +
        'Content-Type: application/octet-stream; name="a.bin"\r\n' +
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n".repeat(30) + "--b1--\r\n";
      break;
    case 1:
      head.push("Content-Type: text/plain; charset=iso-8859-1");
      head.push("Content-Transfer-Encoding: quoted-printable");
      body = text.replace(/ipsum/g, "ips=FCm");
      break;
    case 2: {
      head.push("Content-Type: text/plain; charset=utf-8");
      head.push("Content-Transfer-Encoding: base64");
      const b64 = btoa(String.fromCharCode(...enc.encode(text)));
      body = b64.replace(/.{76}/g, "$&\r\n") + "\r\n";
      break;
    }
    default:
      head.push("Content-Type: text/plain; charset=utf-8");
      body = text;
  }
  return enc.encode(head.join("\r\n") + "\r\n\r\n" + body);
}

/** Flag letters: a third seen, every 10th flagged, every 25th answered. */
function flagsAt(i: number): string {
  return (i % 25 === 0 ? "R" : "") + (i % 10 === 0 ? "F" : "") + (i % 3 ? "S" : "");
}

console.log(`seeding ${N} messages`);
const seed = await seedUsers({ [USER]: PASS });
const root = seed.roots[USER];
const day0 = Date.UTC(2024, 0, 1);
await seedMaildir(
  root,
  N,
  messageAt,
  flagsAt,
  (n) => new Date(day0 + Math.floor(n * 365 / N) * 86_400_000 + n),
);
const srv = await startTestServer({ dirBase: seed.dirBase, config: { LogLevel: "info" } });
const results: Record<string, number> = {};
try {
  const c = await ImapLineClient.open(srv.ports.imap);
  await c.cmd(`LOGIN ${USER} ${PASS}`);
  await c.cmd("SELECT INBOX");
  // Cold: the daemon has parsed nothing yet, and the messages (dropped in by "another
  // MDA") have no keys in the index: SUBJECT is sent right after SELECT, while the keys
  // are still being read in the background.
  const cold: [string, string][] = [
    ["SUBJECT (cold)", 'SEARCH SUBJECT "weekly report"'],
    ["UNSEEN (cold)", "SEARCH UNSEEN"],
    ["SINCE (cold)", "SEARCH SINCE 1-Jul-2024"],
    ["SORT DATE (cold)", "SORT RETURN (COUNT) (DATE) UTF-8 ALL"],
  ];
  for (const [label, command] of cold) {
    const [ms, hits] = await c.timed(command);
    results[label] = ms;
    console.log(`${label.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${hits} hits  ${command}`);
  }
  // Warm: mean of ROUNDS runs.
  const warm: [string, string][] = [
    ["UNSEEN", "SEARCH UNSEEN"],
    ["FLAGGED ANSWERED", "SEARCH FLAGGED ANSWERED"],
    ["LARGER", "SEARCH LARGER 3000"],
    ["SINCE", "SEARCH SINCE 1-Jul-2024"],
    ["ESEARCH COUNT", "SEARCH RETURN (COUNT) OR SEEN FLAGGED"],
    ["SUBJECT", 'SEARCH SUBJECT "weekly report"'],
    ["FROM", 'SEARCH FROM "sender7@"'],
    ["SENTON", "SEARCH SENTON 3-Jan-2024"],
    ["BODY", 'SEARCH BODY "rare needle"'],
    ["TEXT", 'SEARCH TEXT "rare needle"'],
    ["FLAGGED BODY", 'SEARCH FLAGGED BODY "rare needle"'],
    ["SORT ARRIVAL", "SORT RETURN (COUNT) (ARRIVAL) UTF-8 ALL"],
    ["SORT DATE", "SORT RETURN (COUNT) (DATE) UTF-8 ALL"],
    ["SORT FROM", "SORT RETURN (COUNT) (FROM) UTF-8 ALL"],
    ["SORT SUBJECT", "SORT RETURN (COUNT) (SUBJECT) UTF-8 ALL"],
    ["SORT REVERSE DATE", "UID SORT (REVERSE DATE) UTF-8 ALL"],
    ["THREAD REFERENCES", "THREAD REFERENCES UTF-8 ALL"],
    ["THREAD ORDEREDSUBJECT", "THREAD ORDEREDSUBJECT UTF-8 ALL"],
  ];
  for (const [label, command] of warm) {
    let total = 0, hits = 0;
    // Body searches read every file: once is enough on a big mailbox.
    const rounds = N > 20_000 && /BODY|TEXT/.test(command) ? 1 : ROUNDS;
    for (let r = 0; r < rounds; r++) {
      const [ms, h] = await c.timed(command);
      total += ms;
      hits = h;
    }
    results[label] = total / rounds;
    console.log(
      `${label.padEnd(24)} ${(total / rounds).toFixed(1).padStart(8)} ms  ${hits} hits  ${command}`,
    );
  }
  await c.cmd("LOGOUT").catch(() => []);
  c.close();
} finally {
  // How long the background pass after SELECT took to read the keys (the daemon's log).
  const pass = /keys of \d+ messages read from their files in \d+ ms/.exec(srv.logs());
  if (pass) console.log(`background pass: ${pass[0]}`);
  await srv.stop();
  await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
}
const f = (k: string) => results[k].toFixed(1);
console.log(
  `imap_search: ${N} messages; UNSEEN ${f("UNSEEN")} ms; SINCE ${f("SINCE")} ms; ` +
    `SUBJECT ${f("SUBJECT")} ms (cold ${f("SUBJECT (cold)")} ms); ` +
    `SINCE cold ${f("SINCE (cold)")} ms; BODY ${f("BODY")} ms; ` +
    `FLAGGED BODY ${f("FLAGGED BODY")} ms; SORT ARRIVAL ${f("SORT ARRIVAL")} ms; ` +
    `SORT DATE ${f("SORT DATE")} ms (cold ${f("SORT DATE (cold)")} ms); ` +
    `SORT FROM ${f("SORT FROM")} ms; SORT SUBJECT ${f("SORT SUBJECT")} ms; ` +
    `THREAD REFERENCES ${f("THREAD REFERENCES")} ms`,
);
