/**
 * A sink SMTP server for outbound-delivery tests: listens on loopback, records every
 * transaction (envelope, un-stuffed data, EHLO name, TLS, AUTH user, local address)
 * and answers as the test scripts it: per-command hooks return a reply line to refuse.
 *
 *   const sink = await startSink({ rcpt: (to) => to.startsWith("bad") ? "550 5.1.1 no" : undefined });
 *   try { ... OutboundPort: sink.port ... await sink.waitFor(1) ... } finally { await sink.close(); }
 */
import net from "node:net";
import tls from "node:tls";
import { Connection } from "../../src/net/connection.ts";
import { TEST_CERT, TEST_KEY } from "./server.ts";

export interface SinkMessage {
  from: string;
  /** MAIL FROM parameters as written ("SIZE=123 BODY=8BITMIME"). */
  params: string;
  to: string[];
  /** RCPT parameters as written, by recipient ("NOTIFY=SUCCESS ORCPT=rfc822;a@b"). */
  rcptParams: Record<string, string>;
  /** "DATA" or "BDAT" (RFC 3030). */
  via: "DATA" | "BDAT";
  /** The message as the client meant it: dot-stuffing removed, CRLF line ends. */
  data: Uint8Array;
  text: string;
  helo: string;
  tls: boolean;
  authUser: string | null;
  /** The loopback address the client connected to (which "MX host"). */
  localAddress: string;
  connection: number;
}

export interface SinkOptions {
  /** Addresses to listen on, all with the same port (default 127.0.0.1). */
  hosts?: string[];
  port?: number;
  /** Offer STARTTLS with the test certificate. */
  starttls?: boolean;
  /** Offer STARTTLS but drop the connection instead of the handshake. */
  brokenTls?: boolean;
  /** Offer AUTH (PLAIN LOGIN unless `authMechanisms` says) and require it before MAIL. */
  auth?: { user: string; password: string };
  authMechanisms?: string[];
  pipelining?: boolean;
  /** Offer CHUNKING (RFC 3030 BDAT). */
  chunking?: boolean;
  /** Offer DSN (RFC 3461). */
  dsn?: boolean;
  /** SIZE to advertise (0: none). */
  size?: number;
  smtpUtf8?: boolean;
  /** Reply lines to refuse with; undefined accepts. */
  greeting?: () => string | undefined;
  mail?: (from: string) => string | undefined;
  rcpt?: (to: string, from: string) => string | undefined;
  data?: (msg: SinkMessage) => string | undefined | Promise<string | undefined>;
  /** Wait this long before answering the end of data (crash tests). */
  dataDelayMs?: number;
  /** After the 354, read nothing more: a server that never takes the message data. */
  stallData?: boolean;
}

export interface Sink {
  port: number;
  messages: SinkMessage[];
  /** Connections accepted so far. */
  connections: number;
  /** Every command line received, in order (for protocol checks). */
  commands: string[];
  waitFor(count: number, ms?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

const dec = new TextDecoder();
const fromBase64 = (b64: string) => dec.decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

function unstuff(lines: Uint8Array[]): Uint8Array {
  const parts = lines.map((l) => (l[0] === 0x2e ? l.subarray(1) : l));
  const total = parts.reduce((n, p) => n + p.length + 2, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const hosts = opts.hosts ?? ["127.0.0.1"];
  const secure = opts.starttls
    ? tls.createSecureContext({
      cert: await Deno.readTextFile(TEST_CERT),
      key: await Deno.readTextFile(TEST_KEY),
    })
    : null;
  const servers: net.Server[] = [];
  const open = new Set<Connection>();
  const waiters = new Set<() => void>();
  const sink: Sink = {
    port: opts.port ?? 0,
    messages: [],
    connections: 0,
    commands: [],
    async waitFor(count, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (sink.messages.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`sink: ${sink.messages.length} of ${count} messages after ${ms} ms`);
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, 50);
          function done() {
            clearTimeout(t);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
      return sink.messages;
    },
    async close() {
      for (const c of open) c.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    },
  };

  const session = async (conn: Connection, number: number) => {
    const reply = (line: string) => conn.write(`${line}\r\n`);
    const refused = opts.greeting?.();
    if (refused) {
      await reply(refused);
      conn.close();
      return;
    }
    await reply("220 sink.test ESMTP");
    let helo = "";
    let authUser: string | null = null;
    let from: string | null = null;
    let params = "";
    let to: string[] = [];
    let rcptParams: Record<string, string> = {};
    let chunks: Uint8Array[] = [];
    const finish = async (data: Uint8Array, via: "DATA" | "BDAT") => {
      const msg: SinkMessage = {
        from: from!,
        params,
        to,
        rcptParams,
        via,
        data,
        text: dec.decode(data),
        helo,
        tls: conn.secure,
        authUser,
        localAddress: conn.localAddress,
        connection: number,
      };
      if (opts.dataDelayMs) await new Promise((r) => setTimeout(r, opts.dataDelayMs));
      const no = await opts.data?.(msg);
      if (no) await reply(no);
      else {
        sink.messages.push(msg);
        for (const w of [...waiters]) w();
        await reply("250 2.0.0 ok: queued");
      }
      from = null;
      to = [];
    };
    const readText = async () => {
      const r = await conn.readLine(100_000);
      return r ? dec.decode(r.line) : null;
    };
    for (;;) {
      const line = await readText();
      if (line === null) return;
      sink.commands.push(line);
      const verb = line.split(" ")[0].toUpperCase();
      const arg = line.slice(verb.length + 1);
      if (verb === "EHLO" || verb === "HELO") {
        helo = arg;
        from = null;
        to = [];
        const ext = [];
        if (opts.pipelining !== false) ext.push("PIPELINING");
        if (opts.size !== 0) ext.push(`SIZE ${opts.size ?? 10485760}`);
        ext.push("8BITMIME", "ENHANCEDSTATUSCODES");
        if (opts.smtpUtf8) ext.push("SMTPUTF8");
        if (opts.chunking) ext.push("CHUNKING");
        if (opts.dsn) ext.push("DSN");
        if ((secure && !conn.secure) || opts.brokenTls) ext.push("STARTTLS");
        if (opts.auth) ext.push(`AUTH ${(opts.authMechanisms ?? ["PLAIN", "LOGIN"]).join(" ")}`);
        const all = ["sink.test greets you", ...ext];
        await reply(all.map((l, i) => `250${i < all.length - 1 ? "-" : " "}${l}`).join("\r\n"));
      } else if (verb === "STARTTLS" && opts.brokenTls) {
        await reply("220 2.0.0 go ahead");
        conn.destroy();
        return;
      } else if (verb === "STARTTLS" && secure && !conn.secure) {
        await reply("220 2.0.0 go ahead");
        await conn.startTls(secure);
        helo = "";
      } else if (verb === "AUTH" && opts.auth) {
        const [mech, initial] = arg.split(" ");
        let user = "", pass = "";
        if (mech.toUpperCase() === "PLAIN") {
          let b64 = initial;
          if (!b64) {
            await reply("334 ");
            b64 = (await readText()) ?? "";
          }
          [, user, pass] = fromBase64(b64).split("\u0000");
        } else if (mech.toUpperCase() === "LOGIN") {
          await reply("334 VXNlcm5hbWU6");
          user = fromBase64((await readText()) ?? "");
          await reply("334 UGFzc3dvcmQ6");
          pass = fromBase64((await readText()) ?? "");
        }
        if (user === opts.auth.user && pass === opts.auth.password) {
          authUser = user;
          await reply("235 2.7.0 authenticated");
        } else {
          await reply("535 5.7.8 bad credentials");
        }
      } else if (verb === "MAIL") {
        const m = /^FROM:<([^>]*)>\s*(.*)$/i.exec(arg);
        if (!m) {
          await reply("501 5.5.4 syntax");
          continue;
        }
        if (opts.auth && !authUser) {
          await reply("530 5.7.0 authentication required");
          continue;
        }
        const no = opts.mail?.(m[1]);
        if (no) {
          await reply(no);
          continue;
        }
        from = m[1];
        params = m[2];
        to = [];
        rcptParams = {};
        chunks = [];
        await reply("250 2.1.0 ok");
      } else if (verb === "RCPT") {
        const m = /^TO:<([^>]*)>\s*(.*)$/i.exec(arg);
        if (from === null || !m) {
          await reply("503 5.5.1 need MAIL");
          continue;
        }
        const no = opts.rcpt?.(m[1], from);
        if (no) await reply(no);
        else {
          to.push(m[1]);
          if (m[2]) rcptParams[m[1]] = m[2];
          await reply("250 2.1.5 ok");
        }
      } else if (verb === "BDAT" && opts.chunking) {
        const m = /^(\d+)( LAST)?$/i.exec(arg);
        if (!m) {
          await reply("501 5.5.4 syntax");
          continue;
        }
        const n = Number(m[1]);
        const chunk = await conn.readBytes(n);
        if (!chunk) return;
        chunks.push(chunk);
        if (from === null || to.length === 0) {
          await reply("554 5.5.1 no valid recipients");
          continue;
        }
        if (!m[2]) {
          await reply(`250 2.0.0 ${n} octets`);
          continue;
        }
        const total = chunks.reduce((k, c) => k + c.length, 0);
        const data = new Uint8Array(total);
        let off = 0;
        for (const c of chunks) data.set(c, off), off += c.length;
        chunks = [];
        await finish(data, "BDAT");
      } else if (verb === "DATA") {
        if (from === null || to.length === 0) {
          await reply("554 5.5.1 no valid recipients");
          continue;
        }
        await reply("354 go ahead");
        if (opts.stallData) {
          await new Promise<void>((resolve) => conn.onClose(resolve));
          return;
        }
        const lines: Uint8Array[] = [];
        for (;;) {
          const r = await conn.readLine(1_000_000);
          if (!r) return;
          if (r.line.length === 1 && r.line[0] === 0x2e) break;
          lines.push(r.line);
        }
        await finish(unstuff(lines), "DATA");
      } else if (verb === "RSET") {
        from = null;
        to = [];
        await reply("250 2.0.0 ok");
      } else if (verb === "NOOP") {
        await reply("250 2.0.0 ok");
      } else if (verb === "QUIT") {
        await reply("221 2.0.0 bye");
        conn.close();
        return;
      } else {
        await reply("502 5.5.2 unknown command");
      }
    }
  };

  for (const host of hosts) {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      const conn = new Connection(socket);
      open.add(conn);
      conn.onClose(() => open.delete(conn));
      const number = ++sink.connections;
      session(conn, number).catch(() => conn.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(sink.port, host, () => resolve());
    });
    sink.port = (server.address() as net.AddressInfo).port;
    servers.push(server);
  }
  return sink;
}
