/**
 * The PortCluster listener (SPEC §12): implicit TLS with TLSCert/TLSKey, then the
 * ClusterSecret handshake (handshake.ts) from a node named in Nodes, then one request:
 * LMTP delivery (lmtp_server.ts), an IMAP or POP3 session of a user the peer already
 * authenticated (run here, the home node, without a greeting: the client saw the peer's),
 * a USER MOVE step (move.ts), a USER DEL of a user homed here (remote_delete.ts), or a
 * PING (is this node up).
 *
 * The sessions themselves are given by the composition root (server.ts), so this module
 * does not reach into the IMAP and POP3 modules.
 */
import { log } from "../log.ts";
import type { Connection } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { ServiceSpec } from "../server/services.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import type { UserRecord } from "../directory/records.ts";
import {
  type ClusterRequest,
  greetingLine,
  newNonce,
  parseNodeLine,
  parseRequest,
  proof,
  proofMatches,
} from "./handshake.ts";
import { lineWithin } from "./peers.ts";
import { lmtpSession } from "./lmtp_server.ts";
import { serveDelete } from "./remote_delete.ts";
import { serveUsage } from "./remote_usage.ts";
import { serveAutoReplyClaim } from "./remote_autoreply.ts";

const HANDSHAKE_MS = 10_000;

/** What runs a request of the peer on this node (given by server.ts). */
export interface ClusterHandlers {
  /** An IMAP session of `user`, authenticated: first the tagged OK of its login. */
  imap(ctx: ServerContext, conn: Connection, user: UserRecord, tag: string): Promise<void>;
  /** A POP3 session of `user`: first the +OK of its login (or the -ERR of the lock). */
  pop3(ctx: ServerContext, conn: Connection, user: UserRecord): Promise<void>;
  /** USER MOVE steps (move.ts). */
  moveIn(ctx: ServerContext, conn: Connection, user: UserRecord, peer: string): Promise<void>;
  move(ctx: ServerContext, conn: Connection, user: UserRecord, node: string): Promise<void>;
}

export function clusterService(handlers: ClusterHandlers): ServiceSpec {
  return {
    name: "cluster",
    family: "cluster",
    portKey: "PortCluster",
    ipsKey: "ListenIP",
    implicitTls: true,
    // Other nodes carry many users' sessions each: the per-address limit is not theirs.
    unlimited: true,
    refusal: "421 4.7.0 too many connections\r\n",
    handle: (ctx, conn) => serve(ctx, conn, handlers),
  };
}

async function serve(ctx: ServerContext, conn: Connection, handlers: ClusterHandlers) {
  const logger = log("cluster", conn.id);
  let peer: string;
  let request: ClusterRequest | null;
  try {
    const nonce = newNonce();
    const secret = ctx.config.ClusterSecret;
    conn.send(greetingLine(ctx.config.NodeName, nonce));
    const hello = parseNodeLine(await lineWithin(conn, HANDSHAKE_MS, "NODE line"));
    if (
      !hello || !(hello.name in ctx.config.Nodes) ||
      !proofMatches(proof(secret, "client", nonce, hello.nonce, hello.name), hello.proof)
    ) {
      logger.warn(`refused a cluster connection from ${conn.remoteAddress}: no valid proof`);
      conn.send("535 5.7.8 cluster authentication failed\r\n");
      conn.close();
      return;
    }
    peer = hello.name;
    conn.send(`250 ${proof(secret, "server", nonce, hello.nonce, ctx.config.NodeName)}\r\n`);
    request = parseRequest(await lineWithin(conn, HANDSHAKE_MS, "request"));
  } catch (e) {
    logger.info(`cluster handshake with ${conn.remoteAddress} failed: ${(e as Error).message}`);
    conn.destroy();
    return;
  }
  try {
    switch (request?.kind) {
      case "ping":
        conn.send("250 2.0.0 pong\r\n");
        await conn.readLine(64).catch(() => null);
        conn.close();
        return;
      case "lmtp":
        await lmtpSession(ctx, conn, peer);
        return;
      case "imap": {
        const user = homedHere(ctx, request.address);
        if (!user) {
          conn.send(`${request.tag} NO [UNAVAILABLE] mailbox not served by this node now\r\n`);
          conn.close();
          return;
        }
        logger.info(`IMAP of ${request.address} for ${request.clientIp}, proxied by ${peer}`);
        await handlers.imap(ctx, conn, user, request.tag);
        return;
      }
      case "pop3": {
        const user = homedHere(ctx, request.address);
        if (!user) {
          conn.send("-ERR [SYS/TEMP] mailbox not served by this node now\r\n");
          conn.close();
          return;
        }
        logger.info(`POP3 of ${request.address} for ${request.clientIp}, proxied by ${peer}`);
        await handlers.pop3(ctx, conn, user);
        return;
      }
      case "deluser": {
        const user = userOf(ctx, request.address);
        if (!user) conn.send(`550 5.1.1 no user ${request.address}\r\n`);
        else {
          logger.info(`USER DEL of ${request.address} asked by node ${peer}`);
          await serveDelete(ctx, conn, user);
        }
        conn.close();
        return;
      }
      case "usage":
        await serveUsage(ctx, conn);
        return;
      case "autoreply": {
        const user = userOf(ctx, request.address);
        if (!user) {
          conn.send(`550 5.1.1 no user ${request.address}\r\n`);
          conn.close();
        } else await serveAutoReplyClaim(ctx, conn, user, request.sender);
        return;
      }
      case "move-in":
      case "move": {
        const user = userOf(ctx, request.address);
        if (!user) {
          conn.send(`550 5.1.1 no user ${request.address}\r\n`);
          conn.close();
          return;
        }
        if (request.kind === "move-in") await handlers.moveIn(ctx, conn, user, peer);
        else await handlers.move(ctx, conn, user, request.node);
        return;
      }
      default:
        conn.send("500 5.5.2 unknown request\r\n");
        conn.close();
    }
  } catch (e) {
    logger.error(`cluster request from ${peer} failed: ${(e as Error).stack ?? e}`);
    conn.destroy();
  }
}

function userOf(ctx: ServerContext, address: string): UserRecord | undefined {
  try {
    const { local, domain } = parseAddress(address);
    return ctx.directory.getUser(local, domain);
  } catch (e) {
    if (e instanceof NameError) return undefined;
    throw e;
  }
}

/** The user, when its Maildir is served here now (a USER MOVE may have switched it). */
function homedHere(ctx: ServerContext, address: string): UserRecord | undefined {
  const user = userOf(ctx, address);
  return user && ctx.homeOf(user) === "local" ? user : undefined;
}
