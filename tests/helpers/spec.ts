/**
 * Black-box helpers for the SPEC conformance tests (tests/spec_*_test.ts): a line client
 * that can connect from another loopback source address (127.0.0.2 ... are "remote"
 * clients when LocalIP is 127.0.0.1/32), an admin session, and small SMTP/POP3 dialogs.
 */
import net from "node:net";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ADMIN_PASSWORD } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw line client over node:net, optionally bound to a local source address. */
export class Wire {
  #socket: net.Socket;
  #buf = new Uint8Array(0);
  #ended = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(this.#buf.length + chunk.length);
      next.set(this.#buf);
      next.set(chunk, this.#buf.length);
      this.#buf = next;
      this.#wake();
    });
    const end = () => {
      this.#ended = true;
      this.#wake();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  static connect(port: number, from?: string): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
      socket.once("connect", () => resolve(new Wire(socket)));
      socket.once("error", reject);
    });
  }

  async #more(ms: number): Promise<boolean> {
    if (this.#ended) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`read timed out after ${ms} ms`)), ms);
        this.#waiters.push(resolve);
      });
    } finally {
      clearTimeout(timer);
    }
    return true;
  }

  /** Next line without CRLF; null at EOF. */
  async readLine(ms = 10_000): Promise<string | null> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const line = dec.decode(this.#buf.subarray(0, i)).replace(/\r$/, "");
        this.#buf = this.#buf.slice(i + 1);
        return line;
      }
      if (this.#ended) {
        if (this.#buf.length === 0) return null;
        const rest = dec.decode(this.#buf);
        this.#buf = new Uint8Array(0);
        return rest;
      }
      await this.#more(ms);
    }
  }

  /** Lines until one matches `done` (inclusive). */
  async readUntil(done: (line: string) => boolean, ms = 10_000): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine(ms);
      if (line === null) throw new Error(`EOF; got so far:\n${lines.join("\n")}`);
      lines.push(line);
      if (done(line)) return lines;
    }
  }

  /** An SMTP reply (all its lines joined by \n). */
  async smtp(ms = 10_000): Promise<string> {
    const lines = await this.readUntil((l) => /^\d{3} /.test(l) || !/^\d{3}-/.test(l), ms);
    return lines.join("\n");
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.#ended) return resolve();
      this.#socket.write(typeof data === "string" ? enc.encode(data) : data, () => resolve());
    });
  }

  send(line: string): Promise<void> {
    return this.write(line + "\r\n");
  }

  /** Sends an SMTP command and reads its reply. */
  async cmd(line: string, ms?: number): Promise<string> {
    await this.send(line);
    return await this.smtp(ms);
  }

  /** True when the server closes the connection within ms (remaining lines are dropped). */
  async closedByPeer(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#ended) {
      this.#buf = new Uint8Array(0);
      const left = deadline - Date.now();
      if (left <= 0) return false;
      try {
        await this.#more(left);
      } catch {
        return false;
      }
    }
    return true;
  }

  close(): void {
    this.#socket.destroy();
  }
}

export interface AdminReply {
  ok: boolean;
  status: string;
  data: string[];
}

/** An admin session (SPEC §4). */
export class AdminWire {
  constructor(readonly w: Wire) {}

  static async open(port: number, opts: { login?: boolean; from?: string } = {}) {
    const a = new AdminWire(await Wire.connect(port, opts.from));
    const greeting = await a.w.readLine();
    if (greeting !== "+OK eXtremail admin ready") throw new Error(`greeting: ${greeting}`);
    if (opts.login !== false) {
      const r = await a.cmd(`LOGIN ${ADMIN_PASSWORD}`);
      if (!r.ok) throw new Error(`LOGIN: ${r.status}`);
    }
    return a;
  }

  async cmd(line: string, ms = 15_000): Promise<AdminReply> {
    await this.w.send(line);
    const lines = await this.w.readUntil((l) => l.startsWith("+OK") || l.startsWith("-ERR"), ms);
    const status = lines.pop()!;
    return { ok: status.startsWith("+OK"), status, data: lines };
  }

  /** A command that must answer +OK; its data lines. */
  async ok(line: string): Promise<string[]> {
    const r = await this.cmd(line);
    if (!r.ok) throw new Error(`${line} -> ${r.status}`);
    return r.data;
  }

  /** A command that must answer -ERR; the status line. */
  async err(line: string): Promise<string> {
    const r = await this.cmd(line);
    if (r.ok) throw new Error(`${line} should fail, got ${r.status}`);
    return r.status;
  }

  close(): void {
    this.w.close();
  }
}

/** `Key=Value` data lines as an object. */
export function kvLines(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf("=");
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

/** SPEC §5: DirBase/domains/<domain>/<h1>/.../<hN>/<user>. */
export function hashedRoot(dirBase: string, domain: string, user: string, levels = 2): string {
  const md5 = createHash("md5").update(user.toLowerCase()).digest("hex");
  const hs = [];
  for (let i = 0; i < levels; i++) hs.push(md5.slice(2 * i, 2 * i + 2));
  return join(dirBase, "domains", domain, ...hs, user.toLowerCase());
}

/** The files of a Maildir folder's new/ and cur/ (full paths), oldest first. */
export async function maildirFiles(folder: string): Promise<string[]> {
  const out: { path: string; mtime: number }[] = [];
  for (const sub of ["new", "cur"]) {
    try {
      for await (const e of Deno.readDir(join(folder, sub))) {
        if (!e.isFile) continue;
        const path = join(folder, sub, e.name);
        out.push({ path, mtime: (await Deno.stat(path)).mtime?.getTime() ?? 0 });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path)).map((x) => x.path);
}

/** The messages of a Maildir folder as text. */
export async function maildirTexts(folder: string): Promise<string[]> {
  const files = await maildirFiles(folder);
  return await Promise.all(files.map((f) => Deno.readTextFile(f)));
}

/** Polls `check` until it is true (or throws after ms). */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000, what = "") {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SendOptions {
  port: number;
  from: string;
  to: string[];
  data?: string;
  /** Source address of the client. */
  source?: string;
  /** AUTH PLAIN credentials. */
  auth?: [string, string];
  /** MAIL FROM parameters, e.g. "SIZE=100". */
  mailParams?: string;
}

export interface SendResult {
  mail: string;
  rcpts: string[];
  /** The reply to the end of DATA, or null when DATA was not reached. */
  data: string | null;
}

/** A whole SMTP transaction over raw lines; every reply is recorded, nothing asserted. */
export async function sendMail(o: SendOptions): Promise<SendResult> {
  const w = await Wire.connect(o.port, o.source);
  try {
    const greeting = await w.smtp();
    if (!greeting.startsWith("220")) throw new Error(`greeting: ${greeting}`);
    await w.cmd("EHLO client.test");
    if (o.auth) {
      const token = btoa(`\0${o.auth[0]}\0${o.auth[1]}`);
      const r = await w.cmd(`AUTH PLAIN ${token}`);
      if (!r.startsWith("235")) throw new Error(`AUTH: ${r}`);
    }
    const mail = await w.cmd(`MAIL FROM:<${o.from}>${o.mailParams ? " " + o.mailParams : ""}`);
    const rcpts: string[] = [];
    if (!mail.startsWith("250")) return { mail, rcpts, data: null };
    for (const t of o.to) rcpts.push(await w.cmd(`RCPT TO:<${t}>`));
    if (!rcpts.some((r) => r.startsWith("250"))) return { mail, rcpts, data: null };
    const go = await w.cmd("DATA");
    if (!go.startsWith("354")) return { mail, rcpts, data: go };
    const body = (o.data ?? `Subject: test\r\nFrom: <${o.from}>\r\n\r\nHello.\r\n`)
      .replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
    await w.write(body.endsWith("\r\n") ? body : body + "\r\n");
    const data = await w.cmd(".");
    await w.send("QUIT");
    return { mail, rcpts, data };
  } finally {
    w.close();
  }
}
