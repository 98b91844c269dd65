/**
 * The HTTP side of rspamd's protocol (https://rspamd.com/doc/developers/protocol.html):
 * `POST /checkv2` with the SMTP envelope in request headers and the message as the body,
 * streamed from memory or the spool file with a Content-Length (rspamd reads a body of
 * known length; no chunked encoding); `POST /learnspam` and `/learnham` on the controller
 * worker. The reply is read by rspamd_reply.ts.
 *
 * Every failure (refused connection, timeout, an HTTP error, a reply that is not
 * rspamd's) is a `SpamFilterUnavailable`: the caller applies SpamFilterFailure.
 */
import http from "node:http";
import https from "node:https";
import { Buffer } from "node:buffer";
import { parseCheckReply, RspamdReplyError, type SpamVerdict } from "./rspamd_reply.ts";

export class SpamFilterUnavailable extends Error {}

/** What rspamd is told about the message beside its bytes. */
export interface CheckEnvelope {
  /** The SMTP client's address (rspamd's `IP`). */
  ip: string;
  helo: string;
  /** Envelope sender without <> ("" for the null sender). */
  from: string;
  recipients: string[];
  /** The authenticated user (`User`: rspamd treats the message as outbound). */
  user?: string;
  queueId: string;
  /** Our host name (`MTA-Name`). */
  mtaName: string;
}

/** The message: one array, or pieces read in order (the spool file in chunks). */
export interface MessageBody {
  size: number;
  chunks(): AsyncIterable<Uint8Array>;
}

/** The most of a reply that is read: rspamd's JSON for a message is a few KiB. */
const MAX_REPLY = 1024 * 1024;

/**
 * A header value as octets: HTTP header fields carry bytes (RFC 9110 §5.5), node writes
 * a string's code points 0-255 as they are, so UTF-8 (SMTPUTF8 addresses) is passed as its
 * bytes. Controls are removed: a value can never end the field early.
 */
function headerValue(text: string): string {
  // deno-lint-ignore no-control-regex
  return Buffer.from(text.replace(/[\x00-\x1f\x7f]/g, ""), "utf8").toString("latin1");
}

export class RspamdClient {
  constructor(
    /** The normal worker (or the controller, which answers /checkv2 too). */
    readonly base: URL,
    /** The controller worker, for /learnspam and /learnham. */
    readonly controller: URL,
    readonly password: string = "",
  ) {}

  /** POST /checkv2. */
  async check(body: MessageBody, env: CheckEnvelope, timeoutMs: number): Promise<SpamVerdict> {
    const headers: Record<string, string | string[]> = {
      "IP": headerValue(env.ip),
      "Helo": headerValue(env.helo),
      "From": headerValue(env.from === "" ? "<>" : env.from),
      "Queue-Id": headerValue(env.queueId),
      "MTA-Name": headerValue(env.mtaName),
    };
    if (env.recipients.length) headers["Rcpt"] = env.recipients.map(headerValue);
    if (env.user) headers["User"] = headerValue(env.user);
    const reply = await this.#post(this.base, "/checkv2", headers, body, timeoutMs);
    try {
      return parseCheckReply(reply);
    } catch (e) {
      if (e instanceof RspamdReplyError) throw new SpamFilterUnavailable(e.message);
      throw e;
    }
  }

  /**
   * POST /learnspam or /learnham on the controller; resolves when rspamd has learned it.
   * `signal` abandons the request (daemon shutdown).
   */
  async learn(
    kind: "spam" | "ham",
    body: MessageBody,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.password) headers["Password"] = headerValue(this.password);
    const reply = await this.#post(
      this.controller,
      `/learn${kind}`,
      headers,
      body,
      timeoutMs,
      signal,
    );
    let json: unknown;
    try {
      json = JSON.parse(reply);
    } catch {
      throw new SpamFilterUnavailable(`rspamd learn reply is not JSON`);
    }
    const ok = typeof json === "object" && json !== null && "success" in json &&
      (json as { success: unknown }).success === true;
    if (!ok) throw new SpamFilterUnavailable(`rspamd did not learn: ${reply.slice(0, 200)}`);
  }

  #post(
    base: URL,
    path: string,
    headers: Record<string, string | string[]>,
    body: MessageBody,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string> {
    const url = new URL(base.pathname.replace(/\/$/, "") + path, base);
    const lib = url.protocol === "https:" ? https : http;
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const onAbort = () => fail(new SpamFilterUnavailable("abandoned: the server is stopping"));
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        req.destroy();
        reject(e instanceof SpamFilterUnavailable ? e : new SpamFilterUnavailable(e.message));
      };
      const timer = setTimeout(
        () => fail(new SpamFilterUnavailable(`no answer from ${url.origin} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      // One connection per request (`agent: false`): a kept-alive connection that rspamd
      // closes as idle just when a message is sent would fail that message.
      const req = lib.request(url, {
        method: "POST",
        agent: false,
        headers: { ...headers, "Content-Length": String(body.size), "Connection": "close" },
      }, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REPLY) return fail(new SpamFilterUnavailable("rspamd reply too large"));
          parts.push(chunk);
        });
        res.on("error", fail);
        res.on("end", () => {
          if (settled) return;
          const text = Buffer.concat(parts).toString("utf8");
          if (res.statusCode !== 200) {
            return fail(
              new SpamFilterUnavailable(
                `${url.origin}${path} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`,
              ),
            );
          }
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(text);
        });
      });
      req.on("error", (e) => fail(new SpamFilterUnavailable(`${url.origin}: ${e.message}`)));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort);
      (async () => {
        for await (const chunk of body.chunks()) {
          if (settled) return;
          // Back-pressure: a large message is read from its file as rspamd takes it.
          if (!req.write(chunk)) {
            await new Promise((r) => {
              req.once("drain", r);
              req.once("close", r);
            });
          }
        }
        req.end();
      })().catch((e) => fail(e as Error));
    });
  }
}
