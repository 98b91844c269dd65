/** A raw-socket admin session for the admin tests (SPEC §4 framing). */
import { equal, match, ok } from "node:assert/strict";
import { LineClient } from "./helpers/client.ts";
import { ADMIN_PASSWORD } from "./helpers/server.ts";

export interface Reply {
  ok: boolean;
  status: string;
  data: string[];
}

export class Admin {
  constructor(readonly c: LineClient) {}

  /** `ms`: how long to wait for each reply (the cluster tests run long commands). */
  static async open(port: number, login = true, ms = 10_000): Promise<Admin> {
    const a = new Admin(await LineClient.connect(port));
    equal(await a.c.readLine(ms), "+OK eXtremail admin ready");
    if (login) equal((await a.cmd(`LOGIN ${ADMIN_PASSWORD}`, ms)).status, "+OK logged in");
    return a;
  }

  async cmd(line: string, ms = 10_000): Promise<Reply> {
    await this.c.send(line);
    const lines = await this.c.readUntil((l) => l.startsWith("+OK") || l.startsWith("-ERR"), ms);
    const status = lines.pop()!;
    return { ok: status.startsWith("+OK"), status, data: lines };
  }

  /** Runs a command that must succeed; returns its data lines. */
  async okData(line: string): Promise<string[]> {
    const r = await this.cmd(line);
    ok(r.ok, `${line} -> ${r.status}`);
    return r.data;
  }

  /** Runs a command that must fail with a reason matching `reason`. */
  async refused(line: string, reason: RegExp): Promise<void> {
    const r = await this.cmd(line);
    ok(!r.ok, `${line} should fail, got ${r.status}`);
    match(r.status, reason, line);
    equal(r.data.length, 0);
  }

  close(): void {
    this.c.close();
  }
}

/** Key=Value data lines as an object. */
export function kv(lines: string[]): Record<string, string> {
  return Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

export { exists } from "../src/store/fsutil.ts";
