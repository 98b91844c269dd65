/**
 * The group commit every durable sync goes through (store/shared_sync.ts): a caller is
 * never answered by a sync that started before its call, callers of one moment share
 * one, a group runs with its first caller's argument, failures reach that group only,
 * and gathering delays a group without skipping it.
 */
import { SharedSync, SharedSyncs } from "../src/store/shared_sync.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

/** A sync whose runs the test ends by hand, recording the argument of each. */
function manualSync<A>() {
  const runs: { arg: A; done: () => void; fail: (e: unknown) => void }[] = [];
  const run = (arg: A) =>
    new Promise<void>((done, fail) => {
      runs.push({ arg, done, fail });
    });
  return { runs, run };
}

const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("SharedSync: callers during a run share the next one, started with the first's argument", async () => {
  const { runs, run } = manualSync<number>();
  const sync = new SharedSync<number>(run);
  const order: string[] = [];
  const first = sync.request(1).then(() => order.push("first"));
  assertEquals(runs.length, 1, "the first caller starts a sync at once");
  const second = sync.request(2).then(() => order.push("second"));
  const third = sync.request(3).then(() => order.push("third"));
  assertEquals(runs.length, 1, "callers during a sync do not start another");
  runs[0].done();
  await first;
  await turn();
  assertEquals(order, ["first"], "the later callers wait for a sync that started after them");
  assertEquals(
    runs.map((r) => r.arg),
    [1, 2],
    "the next group runs with its first caller's argument",
  );
  runs[1].done();
  await Promise.all([second, third]);
  assertEquals(order, ["first", "second", "third"]);
  assert(sync.idle);
});

Deno.test("SharedSync: a failed sync rejects its own group only; the next one still runs", async () => {
  const { runs, run } = manualSync<void>();
  const sync = new SharedSync(run);
  const first = sync.request();
  const second = sync.request();
  runs[0].fail(new Error("EIO"));
  let error = "";
  await first.catch((e) => error = e.message);
  assertEquals(error, "EIO");
  assertEquals(runs.length, 2, "the waiting group got a sync of its own");
  runs[1].done();
  await second;
  await sync.settled();
  assert(sync.idle);
});

Deno.test("SharedSync: gathering delays the first sync and lets later callers share it", async () => {
  const { runs, run } = manualSync<string>();
  const sync = new SharedSync<string>(run, { gatherMs: 30 });
  const a = sync.request("a");
  const b = sync.request("b");
  assertEquals(runs.length, 0, "nothing runs while the group gathers");
  assert(!sync.idle);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(
    runs.map((r) => r.arg),
    ["a"],
    "one sync for both callers, with the first's argument",
  );
  // A caller during the run forms a new group, which gathers and waits for the run.
  const c = sync.request("c");
  runs[0].done();
  await Promise.all([a, b]);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(runs.map((r) => r.arg), ["a", "c"]);
  runs[1].done();
  await c;
  await sync.settled();
  assert(sync.idle);
});

Deno.test("SharedSyncs: keys are independent and forgotten once idle", async () => {
  const calls: string[] = [];
  const pending: (() => void)[] = [];
  const syncs = new SharedSyncs<string, number>((key, arg) =>
    new Promise<void>((done) => {
      calls.push(`${key}:${arg}`);
      pending.push(done);
    })
  );
  const x = syncs.request("x", 1);
  const y = syncs.request("y", 2);
  const x2 = syncs.request("x", 3);
  assertEquals(calls, ["x:1", "y:2"], "another key does not wait for the first");
  assertEquals(syncs.size, 2);
  pending[0]();
  pending[1]();
  await Promise.all([x, y]);
  await turn();
  assertEquals(calls, ["x:1", "y:2", "x:3"]);
  pending[2]();
  await x2;
  await turn();
  assertEquals(syncs.size, 0, "an idle key is dropped");
});

Deno.test("SharedSync: atTurnEnd starts an idle sync after the turn, for every caller of it", async () => {
  const { runs, run } = manualSync<number>();
  const sync = new SharedSync<number>(run, { atTurnEnd: true });
  const done: number[] = [];
  const first = sync.request(1).then(() => done.push(1));
  assertEquals(runs.length, 0, "an idle sync does not start within the turn");
  // Later callers of the same turn, a few promise hops on (as sessions reach it).
  await Promise.resolve();
  await Promise.resolve();
  const second = sync.request(2).then(() => done.push(2));
  await turn();
  assertEquals(runs.map((r) => r.arg), [1], "one sync, started after the turn");
  const third = sync.request(3).then(() => done.push(3));
  runs[0].done();
  await Promise.all([first, second]);
  assertEquals(done, [1, 2], "the callers of the first turn share the first sync");
  await turn();
  assertEquals(runs.length, 2, "a caller during a running sync gets the next one, not a delay");
  runs[1].done();
  await third;
  assert(sync.idle, "nothing left running or waiting");
});
