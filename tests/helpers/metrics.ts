/**
 * Reading /metrics in tests: scrape over HTTP, index the samples of the text format by
 * `name{label="value",...}` (labels sorted), and find a Python with prometheus_client
 * (Debian's python3-prometheus-client) to check the text with a real parser.
 */

export type Samples = Map<string, number>;

/** `name{a="1",b="2"}` with the labels in name order: the key of one sample. */
export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

/** The samples of a text-format page (no escapes in our label values but \\ and \"). */
export function parseSamples(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    samples.set(sampleKey(m[1], labels), Number(m[3]));
  }
  return samples;
}

export async function scrape(port: number): Promise<{ text: string; contentType: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  return { text, contentType: response.headers.get("content-type") ?? "" };
}

/** The value of one sample; throws when the series is missing (a missing series is a bug). */
export function value(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const v = samples.get(sampleKey(name, labels));
  if (v === undefined) throw new Error(`no sample ${sampleKey(name, labels)}`);
  return v;
}

/**
 * A python3 that can import prometheus_client, or null. The python3 first on PATH may be
 * another installation than Debian's (pyenv), so /usr/bin/python3 is tried as well.
 */
export function prometheusPython(): string | null {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    try {
      const out = new Deno.Command(candidate, {
        args: ["-c", "import prometheus_client.parser"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (out.success) return candidate;
    } catch {
      // not installed
    }
  }
  return null;
}

/**
 * Parses `text` with prometheus_client.parser.text_string_to_metric_families; returns
 * the families as `{name, type, samples: [[sampleName, labels, value]]}`. Throws with the
 * parser's message when the text is not valid.
 */
export async function parseWithPrometheusClient(
  interpreter: string,
  text: string,
): Promise<{ name: string; type: string; samples: [string, Record<string, string>, number][] }[]> {
  const code = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
`;
  const child = new Deno.Command(interpreter, {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`prometheus_client refused the text: ${dec.decode(out.stderr)}`);
  }
  return JSON.parse(dec.decode(out.stdout));
}
