/**
 * `deno task compile`: builds the single executable dist/extremail with `deno compile`.
 *
 * `deno compile` needs the `denort` runtime for the target. It downloads it unless the
 * environment variable DENORT_BIN names a local copy (for offline machines: download
 * denort-<target>.zip from the Deno release matching `deno --version` elsewhere, unzip,
 * and point DENORT_BIN at it). Extra arguments are passed to `deno compile` (e.g.
 * `--target x86_64-unknown-linux-gnu`).
 */
import { fromFileUrl } from "./paths.ts";

const repo = fromFileUrl(new URL("../", import.meta.url));
const output = `${repo}dist/extremail`;
await Deno.mkdir(`${repo}dist`, { recursive: true });
const args = [
  "compile",
  "--allow-all",
  "--config",
  `${repo}deno.json`,
  "--output",
  output,
  // Workers are not found by the module graph (deno compile docs: "Workers").
  "--include",
  `${repo}src/imap/keys_worker.ts`,
  "--include",
  `${repo}src/pop3/loop_worker.ts`,
  "--include",
  `${repo}src/store/fts/worker.ts`,
  "--include",
  `${repo}src/store/file_pool_worker.ts`,
  "--include",
  `${repo}src/store/folder/dir_worker.ts`,
  "--include",
  `${repo}src/store/folder/move_worker.ts`,
  "--include",
  `${repo}src/store/keys_worker.ts`,
  "--include",
  `${repo}src/store/spool_write_worker.ts`,
  ...Deno.args,
  `${repo}main.ts`,
];
console.error(
  `deno ${args.join(" ")}${
    Deno.env.get("DENORT_BIN") ? ` (DENORT_BIN=${Deno.env.get("DENORT_BIN")})` : ""
  }`,
);
const status = await new Deno.Command(Deno.execPath(), {
  args,
  stdout: "inherit",
  stderr: "inherit",
})
  .spawn().status;
if (!status.success) {
  console.error(
    "extremail compile: deno compile failed. It needs the denort runtime: either network access " +
      "to download it, or DENORT_BIN=/path/to/denort pointing at a local copy for this Deno version.",
  );
  Deno.exit(status.code || 1);
}
console.error(`built ${output}`);
