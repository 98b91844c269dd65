/**
 * The PortCluster handshake's pure parts (src/cluster/handshake.ts): each side's proof
 * depends on the secret, both nonces, the side and the name, so a proof made for one
 * exchange, side or node is worth nothing in another; requests round-trip.
 */
import { equal, notEqual } from "node:assert/strict";
import {
  type ClusterRequest,
  greetingLine,
  newNonce,
  parseGreeting,
  parseNodeLine,
  parseRequest,
  proof,
  proofMatches,
  requestLine,
} from "../src/cluster/handshake.ts";

Deno.test("cluster handshake: proofs bind secret, side, both nonces and the name", () => {
  const s = newNonce(), c = newNonce();
  notEqual(s, c);
  const p = proof("secret-0123456789", "client", s, c, "mx1");
  equal(proofMatches(p, proof("secret-0123456789", "client", s, c, "mx1")), true);
  for (
    const other of [
      proof("secret-0123456788", "client", s, c, "mx1"),
      proof("secret-0123456789", "server", s, c, "mx1"),
      proof("secret-0123456789", "client", newNonce(), c, "mx1"),
      proof("secret-0123456789", "client", s, newNonce(), "mx1"),
      proof("secret-0123456789", "client", s, c, "mx2"),
    ]
  ) equal(proofMatches(p, other), false);
  equal(proofMatches(p, p.slice(1)), false, "a shorter proof");
});

Deno.test("cluster handshake: greeting and NODE lines parse, others do not", () => {
  const n = newNonce();
  const g = greetingLine("mx1", n);
  equal(g.endsWith("\r\n"), true);
  equal(JSON.stringify(parseGreeting(g.slice(4))), JSON.stringify({ node: "mx1", nonce: n }));
  equal(parseGreeting("mx1 extremail-cluster xyz"), null);
  const p = proof("k".repeat(16), "client", n, n, "mx2");
  equal(parseNodeLine(`NODE mx2 ${n} ${p}`)?.name, "mx2");
  equal(parseNodeLine(`NODE mx2 ${n}`), null);
  equal(parseNodeLine(`NODE mx2 ${n} ${p} extra`), null);
});

Deno.test("cluster handshake: requests round-trip; unknown or malformed ones are null", () => {
  const requests: ClusterRequest[] = [
    { kind: "lmtp" },
    { kind: "ping" },
    { kind: "imap", tag: "a1", address: "u@d.test", clientIp: "192.0.2.1" },
    { kind: "pop3", address: "u@d.test", clientIp: "2001:db8::1" },
    { kind: "move-in", address: "u@d.test" },
    { kind: "move", address: "u@d.test", node: "mx3" },
    { kind: "deluser", address: "u@d.test" },
  ];
  for (const r of requests) {
    equal(JSON.stringify(parseRequest(requestLine(r))), JSON.stringify(r));
  }
  for (const bad of ["", "LMTP now", "IMAP a1 u@d.test", "POP3", "MOVE u@d.test", "VRFY x"]) {
    equal(parseRequest(bad), null, bad);
  }
});
