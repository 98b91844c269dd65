/**
 * APPEND latency as real clients see it: N sequential APPENDs of a small message with
 * Python's imaplib (Nagle on, the literal and its CRLF in two writes: the case a delayed
 * ACK stalls, src/net/quickack.ts) and with imapflow (Node's client, LITERAL+ when
 * offered), against this server and, when it runs, the peers' Dovecot (bench:peers,
 * ../shared/bench/peers.sh: 127.0.0.1:10143, testuserN / pass). The messages go to a
 * mailbox of their own, created first and deleted afterwards on both servers.
 *
 *   deno task bench append [--appends=50] [--rounds=3] [--size=2000] [--no-peer]
 *
 * Every APPEND is durable on both servers (fsync), so the figures include the disk's
 * fsync latency; a stall shows as a p50 of 40 ms and more. The last line is the headline:
 *
 *   append: imaplib p50 <ms> ms (dovecot <ms>), imapflow p50 <ms> ms (dovecot <ms>)
 */
import { parseArgs } from "node:util";
import { ImapFlow } from "imapflow";
import { seedUsers } from "../tests/helpers/imap.ts";
import { python, startTestServer } from "../tests/helpers/server.ts";
import { PEER_PORTS } from "./peers/peer_servers.ts";
import { portOpen } from "./peers/proc.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    appends: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    size: { type: "string", default: "2000" },
    "no-peer": { type: "boolean", default: false },
  },
});
const APPENDS = Number(args.values.appends);
const ROUNDS = Number(args.values.rounds);
const SIZE = Number(args.values.size);
const MAILBOX = "BenchAppend";
const USER = "append@bench.example", PASS = "bench-pass";
const PEER = { port: PEER_PORTS.imap, user: "testuser200", pass: "pass" };

/** A message of about `size` octets, CRLF line endings. */
function messageText(size: number): string {
  const head = "From: Bench <bench@example.org>\r\nTo: <append@bench.example>\r\n" +
    "Subject: append latency\r\nMessage-ID: <append@bench.example>\r\n\r\n";
  const line = "The quick brown fox jumps over the lazy dog, again and again.\r\n";
  return head + line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
}
const MESSAGE = messageText(SIZE);

/** imaplib: creates the mailbox, appends N times, deletes it; prints latencies in ms. */
const IMAPLIB = `
import imaplib, json, sys, time
host, port, user, pw, box, n, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7].encode()
m = imaplib.IMAP4(host, port)
m.login(user, pw)
m.create(box)
lat = []
try:
    for i in range(n):
        t0 = time.perf_counter()
        typ, data = m.append(box, None, None, msg)
        lat.append((time.perf_counter() - t0) * 1000)
        if typ != "OK": raise SystemExit("APPEND: %r" % data)
finally:
    m.delete(box)
    m.logout()
print(json.dumps(lat))
`;

async function imaplib(port: number, user: string, pass: string): Promise<number[]> {
  const out = await python(IMAPLIB, [
    "127.0.0.1",
    String(port),
    user,
    pass,
    MAILBOX,
    String(APPENDS),
    MESSAGE,
  ]);
  return JSON.parse(out.trim());
}

async function imapflow(port: number, user: string, pass: string): Promise<number[]> {
  const client = new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: { user, pass },
    logger: false,
  });
  await client.connect();
  const lat: number[] = [];
  try {
    await client.mailboxCreate(MAILBOX);
    const bytes = new TextEncoder().encode(MESSAGE);
    for (let i = 0; i < APPENDS; i++) {
      const t0 = performance.now();
      const r = await client.append(MAILBOX, bytes);
      lat.push(performance.now() - t0);
      if (!r) throw new Error("imapflow: APPEND failed");
    }
  } finally {
    await client.mailboxDelete(MAILBOX).catch(() => {});
    await client.logout();
  }
  return lat;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))];
}

type Client = "imaplib" | "imapflow";
type Target = "ours" | "dovecot";
const samples = new Map<string, number[]>();

const seed = await seedUsers({ [USER]: PASS });
const srv = await startTestServer({ dirBase: seed.dirBase, config: { LogLevel: "info" } });
const peer = !args.values["no-peer"] && await portOpen(PEER.port);
if (!peer) console.log("dovecot: not running on 127.0.0.1:10143 (start it with bench:peers)");
const targets: [Target, number, string, string][] = [["ours", srv.ports.imap, USER, PASS]];
if (peer) targets.push(["dovecot", PEER.port, PEER.user, PEER.pass]);
try {
  // Alternating, ours then the peer, so both see the same load on the machine.
  for (let round = 0; round < ROUNDS; round++) {
    for (const client of ["imaplib", "imapflow"] as Client[]) {
      for (const [target, port, user, pass] of targets) {
        const lat = client === "imaplib"
          ? await imaplib(port, user, pass)
          : await imapflow(port, user, pass);
        const key = `${client} ${target}`;
        samples.set(key, [...(samples.get(key) ?? []), ...lat]);
      }
    }
  }
} finally {
  await srv.stop();
  await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
}

console.log(`${ROUNDS} rounds x ${APPENDS} sequential APPENDs of ${MESSAGE.length} octets`);
console.log("client    server   p50 ms   p90 ms   max ms   mean ms");
const p50 = new Map<string, number>();
for (const [key, lat] of samples) {
  const s = [...lat].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const [client, target] = key.split(" ");
  p50.set(key, percentile(s, 50));
  console.log(
    `${client.padEnd(9)} ${target.padEnd(8)} ${
      [percentile(s, 50), percentile(s, 90), s[s.length - 1], mean]
        .map((v) => v.toFixed(2).padStart(8)).join(" ")
    }`,
  );
}
const part = (c: Client) => {
  const ours = p50.get(`${c} ours`)!.toFixed(1);
  const theirs = p50.get(`${c} dovecot`);
  return `${c} p50 ${ours} ms${theirs === undefined ? "" : ` (dovecot ${theirs.toFixed(1)})`}`;
};
console.log(`append: ${part("imaplib")}, ${part("imapflow")}`);
