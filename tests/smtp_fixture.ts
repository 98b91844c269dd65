/**
 * Shared helpers for the SMTP protocol tests: a DirBase with domains and users made
 * before the server starts, reading a user's Maildir, and a raw reply reader.
 */
import { join } from "node:path";
import { Directory } from "../src/directory/directory.ts";
import { MailStore } from "../src/store/mailstore.ts";
import type { LineClient } from "./helpers/client.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./helpers/server.ts";

export const DOMAIN = "example.org";
export const PASSWORD = "s3cret-Pass";

export interface SmtpWorld {
  srv: TestServer;
  /** Maildir root of each user, by name. */
  roots: Record<string, string>;
  /** Stops the server (if running) and removes the DirBase. */
  close(): Promise<void>;
}

/**
 * A fresh DirBase with `DOMAIN` and the given users (password PASSWORD; `map` gives
 * a MAP login), then the server started on it. Always `await world.close()`.
 */
export async function startWorld(
  users: { name: string; map?: string }[],
  opts: TestServerOptions = {},
  setup?: (dir: Directory) => void | Promise<void>,
): Promise<SmtpWorld> {
  const base = await Deno.makeTempDir({ prefix: "extremail-smtp-" });
  const data = join(base, "data");
  await Deno.mkdir(data, { recursive: true });
  const dir = Directory.open(data);
  const store = new MailStore(data, 2);
  const roots: Record<string, string> = {};
  try {
    await dir.addDomain(DOMAIN);
    for (const u of users) {
      let user = await dir.addUser({ name: u.name, domain: DOMAIN, password: PASSWORD });
      if (u.map) user = await dir.modUser(u.name, DOMAIN, { map: u.map });
      roots[u.name] = store.userRoot(user);
      await store.ensureMailbox(roots[u.name]);
    }
    await setup?.(dir);
  } finally {
    await dir.close();
  }
  const srv = await startTestServer({ ...opts, dirBase: base });
  return {
    srv,
    roots,
    async close() {
      await srv.stop();
      await Deno.remove(base, { recursive: true }).catch(() => {});
    },
  };
}

/** Every message file in the INBOX (new/ and cur/), oldest name first. */
export async function inbox(root: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(root, sub))) {
      if (e.isFile) out.push({ name: e.name, bytes: await Deno.readFile(join(root, sub, e.name)) });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Files left in tmp/ (a partial message would be here, never in new/ or cur/). */
export async function tmpFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(root, "tmp"))) out.push(e.name);
  return out;
}

const CRLF_LF = 10;

/**
 * The message without the trace fields the server prepends (Return-Path and its
 * Received header with continuation lines), to compare with what was sent.
 */
export function withoutTrace(stored: Uint8Array): Uint8Array {
  let pos = 0;
  const startsWith = (prefix: string) =>
    new TextDecoder().decode(stored.subarray(pos, pos + prefix.length)).toLowerCase() === prefix;
  const skipField = () => {
    do {
      pos = stored.indexOf(CRLF_LF, pos) + 1;
    } while (pos > 0 && (stored[pos] === 32 || stored[pos] === 9));
  };
  if (startsWith("return-path:")) skipField();
  if (startsWith("received:")) skipField();
  return stored.subarray(pos);
}

/** One SMTP reply (all lines of a multi-line reply). */
export interface Reply {
  code: number;
  lines: string[];
  text: string;
}

export async function readReply(c: LineClient, ms = 10_000): Promise<Reply> {
  const lines = await c.readUntil((l) => !/^\d{3}-/.test(l), ms);
  return { code: Number(lines[lines.length - 1].slice(0, 3)), lines, text: lines.join("\n") };
}

/** Reads `n` replies. */
export async function readReplies(c: LineClient, n: number): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < n; i++) out.push(await readReply(c));
  return out;
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function concat(...parts: (Uint8Array | string)[]): Uint8Array {
  const bytes = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of bytes) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

/** Waits until `check` returns true (polling), or throws after `ms`. */
export async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** RFC 5321 4.5.2 transparency: a line beginning with "." gets one more. */
export function stuff(body: Uint8Array): Uint8Array {
  const out: number[] = [];
  let lineStart = true;
  for (let i = 0; i < body.length; i++) {
    if (lineStart && body[i] === 0x2e) out.push(0x2e);
    out.push(body[i]);
    lineStart = body[i] === 10 && i > 0 && body[i - 1] === 13;
  }
  return new Uint8Array(out);
}
