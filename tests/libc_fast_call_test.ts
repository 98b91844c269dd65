/**
 * The libc calls on the hot paths stay in optimized code (sys/libc.ts): V8's fast FFI
 * call takes only a BigInt for a 64-bit parameter, and a number there deoptimized the
 * caller ("not a BigInt") on every call once TurboFan had it, so POP3 RETR and IMAP FETCH
 * ran their message read in a lower tier with the FFI's slow calls. Checked by running
 * the read of a small message (store/read_small.ts) and the send of a greeting
 * (net/greeting_write.ts) in a loop in a child with --trace-deopt.
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";

const CHILD = `
import net from "node:net";
import { readMessageInto } from "${new URL("../src/store/read_small.ts", import.meta.url)}";
import { sendAtAccept } from "${new URL("../src/net/greeting_write.ts", import.meta.url)}";
const [folder, size] = [Deno.args[0], Number(Deno.args[1])];
const buf = new Uint8Array(size + 8);
let ok = 0;
for (let i = 0; i < 30000; i++) if (readMessageInto(folder, "cur", "m1", size, buf, 4)) ok++;
console.log("reads " + ok);
// The greeting's send(2): one socket, many short sends, the client reading them all.
const server = net.createServer((s) => {
  let sent = 0;
  for (let i = 0; i < 30000; i++) if (sendAtAccept(s, "+OK ready\\r\\n") === "") sent++;
  console.log("sends " + sent);
  s.end();
  server.close();
});
server.listen(0, "127.0.0.1", () => {
  const c = net.connect(server.address().port, "127.0.0.1");
  c.resume();
});
`;

Deno.test("the message read and the greeting send are not deoptimized by their FFI calls", async () => {
  if (Deno.build.os !== "linux") return;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "cur"));
    const body = new TextEncoder().encode("Subject: x\r\n\r\n" + "line\r\n".repeat(900));
    await Deno.writeFile(join(dir, "cur", "m1"), body);
    const script = join(dir, "child.ts");
    await Deno.writeTextFile(script, CHILD);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--trace-deopt", script, dir, String(body.length)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, new TextDecoder().decode(out.stderr));
    assert(text.includes("reads 30000"), text.slice(-2000));
    assert(/sends \d+/.test(text), text.slice(-2000));
    const bigIntDeopts = text.split("\n").filter((l) => l.includes("not a BigInt"));
    assertEquals(bigIntDeopts, [], "a libc call got a number for a 64-bit parameter");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
