/**
 * dkimpy (Debian's python3-dkim, installed by .ci/run), the independent verifier of the
 * mail authentication tests: DKIM signatures (dkim.verify) and ARC sets (dkim.arc_verify)
 * checked against the TXT records a test publishes, without DNS.
 */
import { join } from "node:path";

/** Debian's interpreter: python3-dkim is installed for it, not for other pythons on PATH. */
const PYTHON = "/usr/bin/python3";

const SCRIPT = String.raw`
import dkim, json, sys
recs = json.load(open(sys.argv[3]))
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    return recs.get(n.rstrip('.'), '').encode()
msg = open(sys.argv[2], 'rb').read()
if sys.argv[1] == 'dkim':
    import re
    count = len(re.findall(rb'(?im)^dkim-signature:', msg.split(b'\r\n\r\n', 1)[0]))
    d = dkim.DKIM(msg)
    def one(i):
        try:
            return d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.ValidationError:
            return False
    ok = count > 0 and all(one(i) for i in range(count))
    print('pass' if ok else 'fail')
else:
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print((cv.decode() if isinstance(cv, bytes) else cv), reason)
`;

async function run(mode: "dkim" | "arc", data: Uint8Array, records: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "extremail-dkimpy-" });
  try {
    await Deno.writeFile(join(dir, "m.eml"), data);
    await Deno.writeTextFile(join(dir, "dns.json"), JSON.stringify(records));
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", SCRIPT, mode, join(dir, "m.eml"), join(dir, "dns.json")],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      throw new Error(`dkimpy failed: ${new TextDecoder().decode(out.stderr)}\n${text}`);
    }
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** "pass" when every DKIM-Signature of the message verifies, else "fail". */
export function dkimpyVerify(data: Uint8Array, records: Record<string, string>): Promise<string> {
  return run("dkim", data, records);
}

/** "pass <reason>", "fail <reason>" or "none ..." from arc_verify. */
export function dkimpyArcVerify(data: Uint8Array, records: Record<string, string>) {
  return run("arc", data, records);
}
