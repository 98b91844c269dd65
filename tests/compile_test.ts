/**
 * The single executable (`deno task compile`). `deno compile` downloads its runtime
 * (denort) unless DENORT_BIN names a local copy; where neither works, these tests are
 * skipped with the reason printed, and the source launcher (install.sh) is the fallback.
 */
import { assertMatch } from "./helpers/assert.ts";
import { REPO } from "./helpers/server.ts";

const build = await new Deno.Command(Deno.execPath(), {
  args: ["task", "compile"],
  cwd: REPO,
  stdout: "piped",
  stderr: "piped",
}).output();
const buildLog = new TextDecoder().decode(build.stderr);
const skipReason = build.success
  ? ""
  : `deno compile could not build the binary here: ${
    buildLog.split("\n").filter((l) => /error|failed|denort/i.test(l)).slice(0, 2).join(" / ")
  }`;
if (skipReason) console.warn(`SKIPPED compiled-binary tests: ${skipReason}`);

Deno.test({
  name: "compiled binary prints its version",
  ignore: !build.success,
  async fn() {
    const out = await new Deno.Command(`${REPO}dist/extremail`, {
      args: ["--version"],
      stdout: "piped",
    }).output();
    assertMatch(new TextDecoder().decode(out.stdout).trim(), /^\d+(\.\d+)+$/);
  },
});

Deno.test({
  name: "compiled binary validates a configuration",
  ignore: !build.success,
  async fn() {
    const out = await new Deno.Command(`${REPO}dist/extremail`, {
      args: ["check-conf", "--conf", `${REPO}conf/extremail.toml`],
      stdout: "piped",
    }).output();
    assertMatch(new TextDecoder().decode(out.stdout), /PortSMTP = 25/);
  },
});
