/**
 * Child processes for bench:peers: run a command with a time limit, and stop every
 * running child at once when the user presses Ctrl-C.
 */

export interface ProcResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const running = new Set<Deno.ChildProcess>();
let aborted = false;

export class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

/** Marks the run as interrupted and sends SIGTERM to every child started by run(). */
export function abortAll(): void {
  aborted = true;
  for (const child of running) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
}

export function isAborted(): boolean {
  return aborted;
}

/** Throws Interrupted once abortAll() was called. */
export function checkAborted(): void {
  if (aborted) throw new Interrupted();
}

export interface RunOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes written to the child's stdin. */
  input?: Uint8Array;
  /** Called with each chunk of stderr as it arrives (progress display). */
  onStderr?: (text: string) => void;
  /** Run even after Ctrl-C (clean-up steps). */
  cleanup?: boolean;
}

/** Runs a command to completion and collects its output (never throws on exit status). */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ProcResult> {
  if (!opts.cleanup) checkAborted();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      env: opts.env,
      cwd: opts.cwd,
      stdin: opts.input ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return { code: 127, stdout: "", stderr: `${cmd}: ${(e as Error).message}`, timedOut: false };
  }
  running.add(child);
  let timedOut = false;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, opts.timeoutMs)
    : undefined;
  // A daemon started by the child (peers.sh start) inherits its pipes and keeps them
  // open: once the child has exited, stop reading after a short grace period.
  let exited = false;
  const grace = child.status.then(() => {
    exited = true;
    return sleep(2000);
  });
  const collect = async (stream: ReadableStream<Uint8Array>, each?: (t: string) => void) => {
    const dec = new TextDecoder();
    let text = "";
    const reader = stream.getReader();
    const stop = grace.then(() => reader.cancel().catch(() => {}));
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const t = dec.decode(value, { stream: true });
        text += t;
        each?.(t);
      }
    } catch {
      if (!exited) throw new Error("lost the output of a child process");
    } finally {
      reader.releaseLock();
      void stop;
    }
    return text;
  };
  try {
    if (opts.input) {
      const w = child.stdin.getWriter();
      await w.write(opts.input).catch(() => {});
      await w.close().catch(() => {});
    }
    const [stdout, stderr, status] = await Promise.all([
      collect(child.stdout),
      collect(child.stderr, opts.onStderr),
      child.status,
    ]);
    return { code: status.code, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
    running.delete(child);
  }
}

/** Whether a TCP port on 127.0.0.1 accepts connections. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `python3 SCRIPT ARGS` output condensed to one short reason for an n/a cell. */
export function failureReason(r: ProcResult, limit = 70): string {
  if (r.timedOut) return "timed out";
  const lines = (r.stdout + "\n" + r.stderr).split("\n").map((l) => l.trim()).filter(Boolean);
  const pick = lines.find((l) => /^(error|rejected):/.test(l)) ??
    [...lines].reverse().find((l) => /Error|error|refus|failed|denied/.test(l)) ??
    lines.at(-1) ?? `exit ${r.code}`;
  const short = pick.replace(/^(error|rejected):\s*/, "").replace(/\|/g, "/");
  return short.length > limit ? short.slice(0, limit - 3) + "..." : short;
}
