import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { newQueueId } from "../src/queue/id.ts";
import {
  decodeEntry,
  encodeEntry,
  type EnvelopeRecord,
  parseEnvelope,
  Spool,
} from "../src/queue/spool.ts";

function envelope(id: string, rcpts = ["a@remote.test"]): EnvelopeRecord {
  return {
    v: 1,
    id,
    from: "s@origin.test",
    createdAt: 1000,
    size: 3,
    smtpUtf8: false,
    eightBit: true,
    attempts: 0,
    nextAttempt: 1000,
    lastError: "",
    rcpts: rcpts.map((addr) => ({ addr, state: "pending", status: "", diag: "", mta: "" })),
  };
}

Deno.test("spool: entry file format round trip; truncation is detected", () => {
  const env = envelope(newQueueId());
  const data = new TextEncoder().encode("X: y\r\n\r\nbody\nwith XQ1 7\n");
  const file = encodeEntry(env, data);
  const back = decodeEntry(file);
  deepStrictEqual(JSON.parse(back.envText), env);
  deepStrictEqual(back.data, data);
  throws(() => decodeEntry(file.subarray(0, 30)), /truncated/);
  throws(() => decodeEntry(new TextEncoder().encode("hello\n")), /bad header/);
});

Deno.test("spool: create, save, load, remove; debris cleaned; corrupt kept aside", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-spool-" });
  try {
    const spool = new Spool(base);
    const a = envelope(newQueueId());
    const b = envelope(newQueueId(), ["x@r.test", "y@r.test"]);
    await spool.create(a, new TextEncoder().encode("aaa"));
    await spool.create(b, new TextEncoder().encode("bbb"));
    b.rcpts[0].state = "sent";
    b.attempts = 1;
    await spool.save(b);
    const busy = newQueueId();
    await Deno.writeTextFile(`${spool.msgPath(busy)}.tmp-1-abc`, "partial");
    const gone = newQueueId();
    await Deno.writeTextFile(spool.envPath(gone), JSON.stringify(envelope(gone)));
    await Deno.writeTextFile(`${spool.envPath(gone)}.tmp-99-x`, "partial");
    const bad = newQueueId();
    await Deno.writeTextFile(spool.msgPath(bad), "XQ1 5\n{}");
    await Deno.writeTextFile(join(spool.dir, "README"), "not ours");

    const { entries, problems } = await spool.load((id) => id === busy);
    deepStrictEqual(entries.map((e) => e.id).sort(), [a.id, b.id].sort());
    deepStrictEqual(entries.find((e) => e.id === b.id), b, "the .env state overrides");
    equal(problems.length, 3);
    ok(problems.some((p) => p.includes("envelope without message")));
    ok(problems.some((p) => p.includes(`${bad}.msg: unreadable`)));
    const names = [...Deno.readDirSync(spool.dir)].map((e) => e.name).sort();
    deepStrictEqual(
      names,
      [
        `${a.id}.msg`,
        `${b.id}.env`,
        `${b.id}.msg`,
        `${bad}.msg.corrupt`,
        `${busy}.msg.tmp-1-abc`,
        "README",
      ].sort(),
    );
    deepStrictEqual(new TextDecoder().decode(await spool.readMessage(b.id)), "bbb");
    await spool.remove(b.id);
    await spool.remove(b.id);
    const after = [...Deno.readDirSync(spool.dir)].map((e) => e.name);
    ok(!after.some((n) => n.startsWith(b.id)));
    match(after.join(" "), new RegExp(a.id));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("spool: envelopes written before the DSN and DKIM fields still load; new ones round-trip", () => {
  const old = {
    v: 1,
    id: "1M94X00000000A",
    from: "a@b.test",
    createdAt: 1,
    size: 10,
    smtpUtf8: false,
    eightBit: false,
    attempts: 0,
    nextAttempt: 1,
    lastError: "",
    rcpts: [{ addr: "c@d.test", state: "pending", status: "", diag: "", mta: "" }],
  };
  const env = parseEnvelope(JSON.stringify(old), old.id);
  equal(env.ret, undefined);
  equal(env.rcpts[0].notify, undefined);
  const full = {
    ...old,
    ret: "HDRS",
    envid: "E",
    dkim: "b.test",
    rcpts: [{
      ...old.rcpts[0],
      notify: ["SUCCESS"],
      orcpt: { type: "rfc822", address: "x@y" },
      delayed: true,
    }],
  };
  deepStrictEqual(parseEnvelope(JSON.stringify(full), old.id), full);
  throws(() => parseEnvelope(JSON.stringify({ ...old, ret: "ALL" }), old.id));
});
