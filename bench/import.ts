/**
 * Import throughput (SPEC §11): a Maildir of N messages of SIZE bytes with LF line
 * endings, a dovecot-uidlist and flags, as Dovecot leaves it, imported into a new
 * user's mailbox by the real command (`main.ts import maildir`, every message fsync'd);
 * then the same messages as one mbox file into another user's mailbox.
 *
 *   deno run -A bench/import.ts [--messages 20000] [--size 4096] [--dir DIR]
 *
 * Prints `import: X msg/s` (the Maildir import) as its last line.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { formatConfig } from "../src/config/format.ts";
import { devDefaults } from "../src/config/load.ts";
import { Directory } from "../src/directory/directory.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "import"),
  options: {
    messages: { type: "string", default: "20000" },
    size: { type: "string", default: "4096" },
    dir: { type: "string" },
  },
});
const N = Number(values.messages);
const SIZE = Number(values.size);
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

function message(i: number): string {
  const head = `From: <sender${i % 97}@origin.test>\nTo: <bench@bench.test>\n` +
    `Subject: imported message ${i}\nMessage-ID: <${i}.bench@origin.test>\n\n`;
  const line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\n";
  // SIZE is the stored size, with CRLF line endings.
  const lines = Math.max(1, Math.floor((SIZE - head.length - 5) / (line.length + 1)));
  return head + line.repeat(lines);
}

const base = await Deno.makeTempDir({ prefix: "extremail-bench-import-", dir: values.dir });
try {
  const data = join(base, "data");
  const confPath = join(base, "bench.toml");
  await Deno.writeTextFile(confPath, formatConfig({ ...devDefaults(), DirBase: data }));
  const dir = Directory.open(data);
  await dir.addDomain("bench.test");
  for (const name of ["maildir", "mbox"]) {
    await dir.addUser({ name, domain: "bench.test", password: "bench-password-1" });
  }
  dir.close();

  // The source: Dovecot's layout, files written without fsync (not what is measured).
  const src = join(base, "source");
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(join(src, sub), { recursive: true });
  let uidlist = `3 V1700000000 N${N + 1} G0123456789abcdef0123456789abcdef\n`;
  let mbox = "";
  const enc = new TextEncoder();
  for (let i = 1; i <= N; i++) {
    const text = message(i);
    const bytes = enc.encode(text);
    const baseName = `${1700000000 + i}.M${i}P1.source,S=${bytes.length}`;
    const flags = i % 3 === 0 ? "S" : i % 3 === 1 ? "RS" : "F";
    await Deno.writeFile(join(src, "cur", `${baseName}:2,${flags}`), bytes);
    uidlist += `${i} :${baseName}\n`;
    mbox += `From sender@origin.test Mon Jan  1 00:00:00 2024\n${
      text.replace(/^From /gm, ">From ")
    }\n`;
  }
  await Deno.writeTextFile(join(src, "dovecot-uidlist"), uidlist);
  const mboxPath = join(base, "source.mbox");
  await Deno.writeTextFile(mboxPath, mbox);
  // The source is on disk, as an old server leaves it: its writeback is not measured.
  await new Deno.Command("sync").output();

  const run = async (args: string[]) => {
    const started = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "import", ...args, "--conf", confPath],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const seconds = (performance.now() - started) / 1000;
    const summary = new TextDecoder().decode(out.stdout).trim();
    if (!out.success || !summary.startsWith(`imported ${N} messages`)) {
      throw new Error(`import ${args[0]} failed (exit ${out.code}): ${summary}`);
    }
    console.log(summary);
    return seconds;
  };
  const mboxSeconds = await run(["mbox", "--user", "mbox@bench.test", mboxPath]);
  console.log(
    `import mbox: ${(N / mboxSeconds).toFixed(1)} msg/s (${N} messages of ${SIZE} bytes)`,
  );
  const maildirSeconds = await run(["maildir", "--user", "maildir@bench.test", src]);
  console.log(
    `import: ${(N / maildirSeconds).toFixed(1)} msg/s (Maildir, ${N} messages of ${SIZE} bytes)`,
  );
} finally {
  await Deno.remove(base, { recursive: true });
}
