/**
 * `deno task bench [NAME...] [-- ARGS]`: runs the project's benchmarks (bench/<NAME>.ts).
 * Without a name it runs every benchmark in turn (not peers.ts: that is `deno task
 * bench:peers`, which installs and starts Postfix and Dovecot). Each benchmark prints its headline
 * figure as its last line; this runner prints a summary of those lines last.
 */
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const known: string[] = [];
for await (const e of Deno.readDir(here)) {
  if (
    e.isFile && e.name.endsWith(".ts") && !["run.ts", "peers.ts"].includes(e.name) &&
    !e.name.startsWith("_")
  ) {
    known.push(e.name.slice(0, -3));
  }
}
known.sort();
const dash = Deno.args.indexOf("--");
const names = (dash >= 0 ? Deno.args.slice(0, dash) : Deno.args).filter((a) => !a.startsWith("-"));
const passThrough = dash >= 0
  ? Deno.args.slice(dash + 1)
  : Deno.args.filter((a) => a.startsWith("-"));
for (const n of names) {
  if (!known.includes(n)) {
    console.error(`unknown benchmark "${n}"; available: ${known.join(", ")}`);
    Deno.exit(64);
  }
}
const chosen = names.length ? names : known;
const headlines: string[] = [];
let failed = false;
for (const name of chosen) {
  console.log(`== bench ${name}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${here}${name}.ts`, ...passThrough],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let out = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stdout) {
    const text = dec.decode(chunk, { stream: true });
    out += text;
    await Deno.stdout.write(chunk);
  }
  const status = await child.status;
  if (!status.success) failed = true;
  const last = out.trim().split("\n").pop() ?? "";
  headlines.push(status.success ? last : `${name}: FAILED (exit ${status.code})`);
}
if (chosen.length > 1) {
  console.log("== summary");
  for (const h of headlines) console.log(h);
}
Deno.exit(failed ? 1 : 0);
