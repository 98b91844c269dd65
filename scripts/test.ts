/**
 * `deno task test [FILES...]`: runs the test suite (`deno test`, test files in parallel)
 * and ends with one plain summary line, `N passed, N failed, N skipped`, that CI and
 * people can read without Deno's formatting. The exit status is deno test's.
 */
import { fromFileUrl } from "./paths.ts";

const repo = fromFileUrl(new URL("../", import.meta.url));
const files = Deno.args.length ? Deno.args : ["tests/"];
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "--allow-all", "--parallel", ...files],
  cwd: repo,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let tail = "";
const dec = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + dec.decode(chunk, { stream: true })).slice(-4000);
}
const status = await child.status;
const m = /(\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/.exec(tail);
if (m) console.log(`${m[1]} passed, ${m[2]} failed, ${m[3] ?? 0} skipped`);
Deno.exit(status.code);
