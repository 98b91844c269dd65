import { assert, assertEquals } from "./helpers/assert.ts";
import { join } from "node:path";
import { DeliveryJournal } from "../src/store/delivery_journal.ts";
import {
  CAPACITY,
  FilePool,
  filePoolDir,
  LOW_WATER,
  type PooledFile,
  SUBDIRS,
} from "../src/store/file_pool.ts";
import { deliverJournaled } from "../src/store/journaled_delivery.ts";
import { libcFiles } from "../src/store/libc_files.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { systemLibc } from "../src/sys/libc.ts";

const enc = new TextEncoder();
const msg = (n: number) => enc.encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n`.repeat(1 + n % 7));

/** The pool's files on disk: subdirectory/name -> inode. */
async function poolFiles(dirBase: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const dir = filePoolDir(dirBase);
  for await (const d of Deno.readDir(dir)) {
    if (!d.isDirectory) {
      out.set(d.name, (await Deno.stat(join(dir, d.name))).ino!);
      continue;
    }
    for await (const f of Deno.readDir(join(dir, d.name))) {
      out.set(`${d.name}/${f.name}`, (await Deno.stat(join(dir, d.name, f.name))).ino!);
    }
  }
  return out;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withBase(fn: (base: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "extremail-pool-" });
  try {
    await fn(base);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

function closeTaken(files: PooledFile[]): void {
  for (const f of files) {
    systemLibc()!.close(f.fd);
    Deno.removeSync(f.path);
  }
}

const ffi = libcFiles();

/** Whether /dev/shm (tmpfs) is another file system than the temporary directories. */
function otherFileSystem(): boolean {
  try {
    const probe = Deno.makeTempDirSync();
    const dev = Deno.statSync(probe).dev;
    Deno.removeSync(probe);
    return Deno.statSync("/dev/shm").isDirectory && Deno.statSync("/dev/shm").dev !== dev;
  } catch {
    return false;
  }
}

Deno.test({
  name: "file pool: hands out empty 0600 close-on-exec files and refills below its low-water mark",
  ignore: !ffi,
  fn: () =>
    withBase(async (base) => {
      const pool = await FilePool.open(base);
      const taken: PooledFile[] = [];
      try {
        await until("a full pool", () => pool.ready === CAPACITY);
        assertEquals((await poolFiles(base)).size, CAPACITY);
        for (let i = 0; i < CAPACITY - LOW_WATER + 6; i++) {
          const f = pool.take();
          assert(f !== null, `file ${i}`);
          taken.push(f);
        }
        assertEquals(new Set(taken.map((f) => f.path)).size, taken.length);
        assertEquals(new Set(taken.map((f) => f.fd)).size, taken.length);
        for (const f of taken.slice(0, 3)) {
          const st = Deno.statSync(f.path);
          assertEquals(st.mode! & 0o777, 0o600);
          assertEquals(st.size, 0);
          assert(f.path.startsWith(filePoolDir(base) + "/"));
          // flags in octal: O_CLOEXEC is 02000000, O_WRONLY 1.
          const info = Deno.readTextFileSync(`/proc/self/fdinfo/${f.fd}`);
          const flags = parseInt(/flags:\s*(\d+)/.exec(info)![1], 8);
          assert((flags & 0o2000000) !== 0 && (flags & 3) === 1, info);
        }
        // Below the low-water mark the thread was woken: the ring fills up again.
        await until("a refill", () => pool.ready === CAPACITY);
        assertEquals((await poolFiles(base)).size, CAPACITY + taken.length);
      } finally {
        await pool.close();
        closeTaken(taken);
      }
      // Closed: the thread's files are gone, the subdirectories stay for the next start.
      assertEquals((await poolFiles(base)).size, 0);
      assertEquals(pool.take(), null);
    }),
});

Deno.test({
  name: "file pool: an empty pool gives null at once (the caller creates its own file)",
  ignore: !ffi,
  fn: () =>
    withBase(async (base) => {
      const pool = await FilePool.open(base);
      const taken: PooledFile[] = [];
      try {
        await until("a full pool", () => pool.ready === CAPACITY);
        // Taken faster than one thread creates: the pool runs dry and says so, never waits.
        let empty = 0;
        for (let i = 0; i < 20 * CAPACITY && empty === 0; i++) {
          const f = pool.take();
          if (f) taken.push(f);
          else empty++;
        }
        assertEquals(empty, 1);
        assert(taken.length >= CAPACITY);
        await until("a refill after running dry", () => pool.ready === CAPACITY);
      } finally {
        await pool.close();
        closeTaken(taken);
      }
    }),
});

Deno.test("file pool: start-up removes what an earlier process left, before the thread starts", () =>
  withBase(async (base) => {
    const dir = filePoolDir(base);
    await Deno.mkdir(join(dir, "0"), { recursive: true });
    await Deno.mkdir(join(dir, "3"), { recursive: true });
    await Deno.writeFile(join(dir, "0", "123.abc.7"), new Uint8Array());
    await Deno.writeFile(join(dir, "3", "123.abc.100"), msg(1)); // written, never renamed
    await Deno.writeFile(join(dir, "stray"), msg(2));
    const pool = await FilePool.open(base, { workerUrl: "data:text/javascript,throw 1" });
    try {
      assertEquals(pool.leftovers, 3);
      assertEquals((await poolFiles(base)).size, 0);
      for (let i = 0; i < SUBDIRS; i++) assert((await Deno.stat(join(dir, String(i)))).isDirectory);
    } finally {
      await pool.close();
    }
  }));

Deno.test("file pool: a thread that cannot start leaves deliveries to create their own files", () =>
  withBase(async (base) => {
    const journal = await DeliveryJournal.open(base);
    const pool = await FilePool.open(base, { workerUrl: "data:text/javascript,throw 1" });
    const store = new MailStore(base, 0, {}, journal, pool);
    try {
      await until("the thread's failure", () => !pool.available);
      assertEquals(pool.take(), null);
      const root = store.userRoot({ name: "joe", domain: "example.com", dir: "" });
      await store.ensureMailbox(root);
      const [s] = await store.deliver([{ root }], msg(3));
      assertEquals(await Deno.readFile(join(root, "new", s.base)), msg(3));
      assertEquals([...Deno.readDirSync(join(root, "tmp"))].length, 0);
    } finally {
      await store.close();
    }
  }));

Deno.test({
  name: "file pool: a delivery lands the exact bytes in new/ through a pool file, in every target",
  ignore: !ffi,
  fn: () =>
    withBase(async (base) => {
      const journal = await DeliveryJournal.open(base);
      const pool = await FilePool.open(base);
      const store = new MailStore(base, 0, {}, journal, pool);
      try {
        const joe = store.userRoot({ name: "joe", domain: "example.com", dir: "" });
        const ann = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
        await store.ensureMailbox(joe);
        await store.ensureMailbox(ann);
        await until("a full pool", () => pool.ready === CAPACITY);
        const before = new Set((await poolFiles(base)).values());
        const stored = [];
        for (let n = 0; n < 10; n++) {
          stored.push(
            await store.deliver(n % 2 ? [{ root: joe }, { root: ann }] : [{ root: joe }], msg(n)),
          );
        }
        for (const [n, list] of stored.entries()) {
          for (const s of list) {
            const path = join(s.folderPath, "new", s.base);
            assertEquals(await Deno.readFile(path), msg(n));
            // The pool's file itself, renamed (or linked, then renamed) into place.
            assert(before.has((await Deno.stat(path)).ino!), `${path} is not a pool file`);
          }
        }
        for (const root of [joe, ann]) {
          assertEquals([...Deno.readDirSync(join(root, "tmp"))].length, 0);
        }
        // Nothing stays behind in the pool's directory: only the files it holds now.
        assertEquals(pool.ready, CAPACITY - 10); // one file per delivery, linked to each target
        assertEquals((await poolFiles(base)).size, pool.ready);
      } finally {
        await store.close();
      }
      assertEquals((await poolFiles(base)).size, 0);
    }),
});

Deno.test({
  name: "file pool: a mailbox on another file system gets a copy, and the pool is no longer used",
  ignore: !ffi || !otherFileSystem(),
  fn: () =>
    withBase(async (base) => {
      const other = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "extremail-pool-" });
      const journal = await DeliveryJournal.open(base);
      const pool = await FilePool.open(base);
      try {
        await Deno.mkdir(join(other, "new"));
        await until("a full pool", () => pool.ready === CAPACITY);
        const dest = join(other, "new", "m1");
        const { background } = await deliverJournaled(
          journal,
          join(other, "tmp-m1"),
          [dest],
          msg(4),
          pool,
        );
        await background;
        assertEquals(await Deno.readFile(dest), msg(4));
        assertEquals(pool.available, false);
        assertEquals(pool.take(), null);
        // The copied pool file was removed: only the ring's files are left.
        assertEquals((await poolFiles(base)).size, pool.ready);
      } finally {
        await pool.close();
        await journal.close();
        await Deno.remove(other, { recursive: true });
      }
    }),
});

/** Nice value of every thread of this process, by thread id (as thread_priority_test.ts). */
function threadNices(): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      out.set(t.name, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch { /* a thread that ended between the two reads */ }
  }
  return out;
}

Deno.test({
  name: "file pool: its thread runs at nice 10 (the event loop first), the loop stays at 0",
  ignore: !ffi,
  fn: () =>
    withBase(async (base) => {
      const loopNice = threadNices().get(String(Deno.pid)) ?? 0;
      const before = threadNices();
      const pool = await FilePool.open(base);
      try {
        await until("a full pool", () => pool.ready === CAPACITY);
        const fresh = [...threadNices()].filter(([id]) => !before.has(id)).map(([, n]) => n);
        assert(fresh.includes(loopNice + 10), `no new thread at nice ${loopNice + 10}: ${fresh}`);
        assertEquals(threadNices().get(String(Deno.pid)), loopNice);
      } finally {
        await pool.close();
      }
    }),
});

Deno.test({
  name: "file pool: a DirBase whose path is not ASCII gets its files under their full names",
  ignore: !ffi,
  fn: () =>
    withBase(async (outer) => {
      const base = join(outer, "courrier-été-".repeat(8));
      const pool = await FilePool.open(base);
      const taken: PooledFile[] = [];
      try {
        await until("a full pool", () => pool.ready === CAPACITY);
        const f = pool.take()!;
        taken.push(f);
        assert(f.path.startsWith(filePoolDir(base) + "/"));
        assertEquals(Deno.statSync(f.path).size, 0);
        assertEquals((await poolFiles(base)).size, CAPACITY);
      } finally {
        await pool.close();
        closeTaken(taken);
      }
    }),
});
