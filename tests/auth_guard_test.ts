/**
 * The authentication guard (src/auth/guard.ts, SPEC §7) with a fake clock and a fake
 * directory: per-source and per-account throttling, IPv6 /64 sources, parallel attempts,
 * the equal delay of every refusal; the failure window it shares with the admin port;
 * the login deadline (TimeoutLogin).
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { AuthGuard, type LoginAttempt } from "../src/auth/guard.ts";
import { FailureWindow } from "../src/auth/failure_window.ts";
import { startLoginDeadline } from "../src/auth/login_deadline.ts";
import { sourceKey } from "../src/net/source.ts";
import { ConnectionCounter } from "../src/net/listener.ts";
import type { UserRecord } from "../src/directory/records.ts";

const MINUTE = 60_000;
const BOB = { name: "bob", domain: "example.org" } as UserRecord;

/** A guard over a directory knowing bob@example.org / "right", with a fake clock. */
function world() {
  const clock = { now: 1_000_000 };
  const checks: string[] = [];
  const sleeps: number[] = [];
  const guard = new AuthGuard({
    authenticate(login: string, password: string) {
      checks.push(login);
      const ok = login.toLowerCase() === "bob@example.org" && password === "right";
      return Promise.resolve(ok ? BOB : undefined);
    },
  }, {
    now: () => clock.now,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  const attempt = (ip: string, login = "bob@example.org", password = "wrong") =>
    guard.login({ protocol: "imap", ip, login, password } satisfies LoginAttempt);
  return { clock, checks, sleeps, guard, attempt };
}

Deno.test("sourceKey: IPv4 as is, IPv6 per /64, mapped IPv4 unwrapped", () => {
  assertEquals(sourceKey("192.0.2.7"), "192.0.2.7");
  assertEquals(sourceKey("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(sourceKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(sourceKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assertEquals(sourceKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assertEquals(sourceKey("::1"), "0:0:0:0::/64");
  assertEquals(sourceKey("not an address"), "not an address");
});

Deno.test("guard: 10 failures from a source refuse it for 10 minutes without a check", async () => {
  const w = world();
  for (let i = 0; i < 10; i++) assertEquals((await w.attempt("192.0.2.1")).kind, "failed");
  assertEquals(w.checks.length, 10);
  // Even the right password: refused, and not checked.
  const locked = await w.attempt("192.0.2.1", "bob@example.org", "right");
  assertEquals(locked.kind, "throttled");
  assertEquals(w.checks.length, 10, "no password check while locked");
  assert(w.guard.sourceLocked("192.0.2.1"));
  // Another source is not affected (nor is the account: 10 < 20 failures).
  assertEquals((await w.attempt("192.0.2.2", "bob@example.org", "right")).kind, "ok");
  w.clock.now += 10 * MINUTE - 1;
  assertEquals((await w.attempt("192.0.2.1", "bob@example.org", "right")).kind, "throttled");
  w.clock.now += 2;
  assertEquals((await w.attempt("192.0.2.1", "bob@example.org", "right")).kind, "ok");
});

Deno.test("guard: failures spread over more than 10 minutes do not lock; success does not reset", async () => {
  const w = world();
  for (let i = 0; i < 20; i++) {
    assertEquals((await w.attempt("192.0.2.1", `u${i}@example.org`)).kind, "failed");
    w.clock.now += 70_000; // 9 failures per 10 minutes at most
  }
  const fresh = world();
  for (let i = 0; i < 9; i++) await fresh.attempt("192.0.2.9", `u${i}@example.org`);
  // A valid login in between does not clear the count: the tenth failure still locks.
  assertEquals((await fresh.attempt("192.0.2.9", "bob@example.org", "right")).kind, "ok");
  assertEquals((await fresh.attempt("192.0.2.9", "x@example.org")).kind, "failed");
  assertEquals((await fresh.attempt("192.0.2.9", "bob@example.org", "right")).kind, "throttled");
});

Deno.test("guard: an IPv6 /64 is one source", async () => {
  const w = world();
  for (let i = 0; i < 10; i++) {
    assertEquals((await w.attempt(`2001:db8:5:6::${i + 1}`, `x${i}@example.org`)).kind, "failed");
  }
  assertEquals(
    (await w.attempt("2001:db8:5:6:ffff::1", "bob@example.org", "right")).kind,
    "throttled",
  );
  assertEquals((await w.attempt("2001:db8:5:7::1", "bob@example.org", "right")).kind, "ok");
});

Deno.test("guard: parallel attempts cannot pass the tenth failure", async () => {
  const w = world();
  const results = await Promise.all(
    Array.from({ length: 25 }, (_, i) => w.attempt("192.0.2.3", `p${i}@example.org`)),
  );
  assertEquals(w.checks.length, 10, "only 10 password checks ran");
  assertEquals(results.filter((r) => r.kind === "failed").length, 10);
  assertEquals(results.filter((r) => r.kind === "throttled").length, 15);
});

Deno.test("guard: parallel good logins from one source wait for running checks, none refused", async () => {
  const w = world();
  // A webmail (or a client opening many sessions) logs 25 sessions in at once.
  const results = await Promise.all(
    Array.from({ length: 25 }, () => w.attempt("192.0.2.5", "bob@example.org", "right")),
  );
  assertEquals(results.map((r) => r.kind), Array(25).fill("ok"));
  assertEquals(w.checks.length, 25);
  // Mixed: 9 guesses in flight among 16 good logins: the good ones all get in (nine
  // failures do not lock), and the tenth failure afterwards still does.
  const mixed = await Promise.all(
    Array.from(
      { length: 25 },
      (_, i) =>
        i < 9
          ? w.attempt("192.0.2.6", `x${i}@example.org`)
          : w.attempt("192.0.2.6", "bob@example.org", "right"),
    ),
  );
  assertEquals(mixed.filter((r) => r.kind === "ok").length, 16);
  assertEquals(mixed.filter((r) => r.kind === "failed").length, 9);
  assert(!w.guard.sourceLocked("192.0.2.6"));
  assertEquals((await w.attempt("192.0.2.6", "y@example.org")).kind, "failed");
  assert(w.guard.sourceLocked("192.0.2.6"));
});

Deno.test("guard: an account under attack is refused to unknown sources, not to known ones", async () => {
  const w = world();
  // bob logged in from home before the attack.
  assertEquals((await w.attempt("198.51.100.7", "bob@example.org", "right")).kind, "ok");
  // 20 guesses from 20 sources (each under its own limit).
  for (let i = 0; i < 20; i++) {
    assertEquals((await w.attempt(`203.0.113.${i + 1}`, "Bob@Example.org")).kind, "failed");
  }
  const before = w.checks.length;
  assertEquals((await w.attempt("203.0.113.100")).kind, "throttled", "a new source");
  assertEquals((await w.attempt("203.0.113.101", "bob@example.org", "right")).kind, "throttled");
  assertEquals(w.checks.length, before, "refused without a check");
  // Home still gets in; other accounts are not affected.
  assertEquals((await w.attempt("198.51.100.7", "bob@example.org", "right")).kind, "ok");
  assertEquals((await w.attempt("203.0.113.100", "alice@example.org")).kind, "failed");
  // A missing account behaves the same way (no hint that bob exists and nobody does).
  for (let i = 0; i < 20; i++) await w.attempt(`192.0.2.${i + 100}`, "nobody@example.org");
  assertEquals((await w.attempt("203.0.113.102", "nobody@example.org")).kind, "throttled");
  // Ten minutes later the account is open again.
  w.clock.now += 10 * MINUTE + 1;
  assertEquals((await w.attempt("203.0.113.101", "bob@example.org", "right")).kind, "ok");
});

Deno.test("guard: every refusal is answered the same delay after the attempt began", async () => {
  const w = world();
  await w.attempt("192.0.2.4", "missing@example.org");
  await w.attempt("192.0.2.4", "bob@example.org", "wrong");
  for (let i = 0; i < 8; i++) await w.attempt("192.0.2.4", "z@example.org");
  await w.attempt("192.0.2.4"); // throttled
  assertEquals(w.sleeps, Array(11).fill(1000), "failed and throttled: 1000 ms each");
  await w.attempt("192.0.2.5", "bob@example.org", "right");
  assertEquals(w.sleeps.length, 11, "a success is not delayed");
});

Deno.test("guard: a refused authzid is a failure", async () => {
  const w = world();
  const r = await w.guard.login({
    protocol: "smtp",
    ip: "192.0.2.6",
    login: "bob@example.org",
    password: "right",
    authorize: () => false,
  });
  assertEquals(r.kind, "failed");
});

Deno.test("FailureWindow: tryBegin counts checks in flight, finish records them", () => {
  let now = 0;
  const win = new FailureWindow({ maxFailures: 3, windowMs: 1000, lockMs: 5000 }, () => now);
  assert(win.tryBegin("k") && win.tryBegin("k") && win.tryBegin("k"));
  assert(!win.tryBegin("k"), "three in flight reach the limit");
  assertEquals(win.finish("k", false), 0);
  assert(win.tryBegin("k"), "a success frees its slot");
  assertEquals(win.finish("k", true), 0);
  assertEquals(win.finish("k", true), 0);
  assertEquals(win.finish("k", true), 5000, "the third failure locks");
  assert(!win.tryBegin("k"));
  now = 5001;
  assert(win.tryBegin("k"));
});

Deno.test("login deadline: expires unless authenticated, waits for a running command", async () => {
  let authed = false, busy = false, expired = 0;
  const session = {
    authenticated: () => authed,
    busy: () => busy,
    expire: () => expired++,
  };
  startLoginDeadline(0.05, session);
  await new Promise((r) => setTimeout(r, 120));
  assertEquals(expired, 1);

  authed = true;
  startLoginDeadline(0.05, session);
  await new Promise((r) => setTimeout(r, 120));
  assertEquals(expired, 1, "an authenticated session is left alone");

  authed = false;
  busy = true;
  const d = startLoginDeadline(0.05, session);
  await new Promise((r) => setTimeout(r, 120));
  assertEquals(expired, 1, "a login being checked is let finish");
  d.cancel();
});

Deno.test("MaxConnectionsPerIP counts an IPv6 /64 as one client", () => {
  const counter = new ConnectionCounter();
  assert(counter.tryAdd("imap", "2001:db8:1:2::1", 100, 2));
  assert(counter.tryAdd("imap", "2001:db8:1:2::ffff", 100, 2));
  assert(!counter.tryAdd("imap", "2001:db8:1:2:abcd::7", 100, 2), "a third address of the /64");
  assert(counter.tryAdd("imap", "2001:db8:1:3::1", 100, 2), "another /64");
  assert(counter.tryAdd("pop3", "2001:db8:1:2::1", 100, 2), "per service");
  counter.remove("imap", "2001:db8:1:2::ffff");
  assert(counter.tryAdd("imap", "2001:db8:1:2::9", 100, 2), "a slot came free");
  assert(counter.tryAdd("imap", "192.0.2.1", 100, 1));
  assert(!counter.tryAdd("imap", "::ffff:192.0.2.1", 100, 1), "a mapped IPv4 is the same address");
});
