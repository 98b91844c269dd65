/**
 * src/workers.ts: the one way worker threads are started. An error in a thread reaches
 * its owner (not the process); a module that fails is not used again (WorkerModule, the
 * main-thread fallback, logged once); a LingeringWorker starts on demand or ahead of it
 * (prestart), stops a while after it went idle (after its farewell), and restarts for more
 * work; one with keepThread only has its farewell and runs on.
 */
import { join } from "node:path";
import type { Logger } from "../src/log.ts";
import { LingeringWorker, startWorker, WorkerModule } from "../src/workers.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

const dir = await Deno.makeTempDir({ prefix: "extremail-workers-" });
/** Echoes each message; "boom" throws (an uncaught error in the thread). */
const echo = join(dir, "echo.js");
await Deno.writeTextFile(
  echo,
  `self.onmessage = (ev) => {
    if (ev.data === "boom") throw new Error("boom in the thread");
    self.postMessage(ev.data);
  };`,
);
const echoUrl = new URL(`file://${echo}`).href;
const missingUrl = new URL(`file://${join(dir, "missing.js")}`).href;

function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: { warn: (m: string) => lines.push(m) } as unknown as Logger, lines };
}

function next<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

Deno.test("workers: startWorker hands messages and the thread's errors to its owner", async () => {
  const message = next<string>(), error = next<string>();
  const w = startWorker<string>(echoUrl, { message: message.resolve, error: error.resolve });
  try {
    w.postMessage("hello");
    assertEquals(await message.promise, "hello");
    w.postMessage("boom");
    assert((await error.promise).includes("boom in the thread"), "the error reaches its owner");
  } finally {
    w.terminate();
  }
});

Deno.test("workers: a WorkerModule that fails is not started again, and says so once", async () => {
  const { logger, lines } = warnings();
  const module = new WorkerModule(missingUrl, "test worker", "doing it here", logger);
  assert(module.available);
  const error = next<string>();
  const w = module.start({ message: () => {}, error: error.resolve });
  // A module that is not there fails at start or with its first event.
  if (w) await error.promise;
  w?.terminate();
  assertEquals(module.available, false);
  assertEquals(module.start({ message: () => {}, error: () => {} }), null, "no second try");
  module.fail("again");
  assertEquals(lines.length, 1, lines.join("\n"));
  assert(lines[0].startsWith("test worker unavailable ("), lines[0]);
  assert(lines[0].endsWith("); doing it here"), lines[0]);
});

Deno.test("workers: a LingeringWorker stops after its farewell once idle, and restarts", async () => {
  let busy = 0;
  const farewells: Worker[] = [];
  const answers: string[] = [];
  let answered = next<void>();
  const thread: LingeringWorker<string> = new LingeringWorker<string>({
    start: (on) => startWorker(echoUrl, on),
    lingerMs: 10,
    idle: () => busy === 0,
    farewell: (w) => {
      farewells.push(w);
      return Promise.resolve();
    },
    message: (m) => {
      answers.push(m);
      busy--;
      thread.linger();
      answered.resolve();
    },
    error: () => {},
  });
  const first = thread.get()!;
  assertEquals(thread.get(), first, "one thread while it runs");
  busy++;
  first.postMessage("a");
  thread.linger(); // busy: no linger yet
  await answered.promise;
  for (let i = 0; i < 200 && thread.running; i++) await new Promise((r) => setTimeout(r, 10));
  assertEquals(thread.running, null, "stopped once idle for lingerMs");
  assertEquals(farewells, [first], "after its farewell");
  answered = next<void>();
  const second = thread.get()!;
  assert(second !== first, "more work starts a new thread");
  busy++;
  second.postMessage("b");
  await answered.promise;
  assertEquals(answers, ["a", "b"]);
  thread.stop();
  assertEquals(thread.running, null);
});

Deno.test("workers: a LingeringWorker started ahead with keepThread has its farewell and runs on", async () => {
  let busy = 0;
  const farewells: Worker[] = [];
  const answered = next<string>();
  const thread: LingeringWorker<string> = new LingeringWorker<string>({
    start: (on) => startWorker(echoUrl, on),
    lingerMs: 10,
    keepThread: true,
    idle: () => busy === 0,
    farewell: (w) => {
      farewells.push(w);
      return Promise.resolve();
    },
    message: (m) => {
      busy--;
      thread.linger();
      answered.resolve(m);
    },
    error: () => {},
  });
  try {
    assert(thread.prestart(), "started with nothing asked");
    const first = thread.running!;
    assert(first !== null);
    for (let i = 0; i < 200 && farewells.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(farewells, [first], "idle for lingerMs: its farewell");
    assertEquals(thread.running, first, "and the thread runs on");
    assertEquals(thread.get(), first, "the first request uses the thread started ahead");
    busy++;
    first.postMessage("a");
    assertEquals(await answered.promise, "a");
    for (let i = 0; i < 200 && farewells.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(farewells, [first, first], "idle again: another farewell, the same thread");
    assertEquals(thread.running, first);
  } finally {
    thread.stop();
  }
  assertEquals(thread.running, null, "stop() still ends it");
});

Deno.test("workers: prestart of a module that cannot run answers false", async () => {
  const { logger } = warnings();
  const module = new WorkerModule(missingUrl, "test worker", "doing it here", logger);
  module.fail("not built in");
  const thread = new LingeringWorker<string>({
    start: (on) => module.start(on),
    lingerMs: 10,
    keepThread: true,
    idle: () => true,
    message: () => {},
    error: () => {},
  });
  assertEquals(thread.prestart(), false);
  assertEquals(thread.running, null);
  await Promise.resolve();
});

Deno.test("workers: an error in a LingeringWorker's thread ends it; the next get() starts one", async () => {
  const error = next<string>();
  const thread = new LingeringWorker<string>({
    start: (on) => startWorker(echoUrl, on),
    lingerMs: 60_000,
    idle: () => true,
    message: () => {},
    error: error.resolve,
  });
  const w = thread.get()!;
  w.postMessage("boom");
  await error.promise;
  assertEquals(thread.running, null, "the failed thread is gone");
  const again = thread.get();
  assert(again !== null && again !== w);
  thread.stop();
});

Deno.test("workers: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
