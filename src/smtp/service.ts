/**
 * The SMTP listeners (SPEC §1): MX on PortSMTP, submission on PortSubmission (RFC 6409,
 * AUTH before MAIL) and implicit TLS on PortSMTPS (RFC 8314, submission rules).
 */
import * as pipeline from "../delivery/pipeline.ts";
import type { ServerContext } from "../server/context.ts";
import { registerService } from "../server/services.ts";
import { COMMANDS } from "./handlers.ts";
import { type ServiceName, SmtpSession } from "./session.ts";

/** SPEC §4: at MaxConnections / MaxConnectionsPerIP (RFC 5321 3.8: 421 and close). */
function refusal(ctx: ServerContext): string {
  return `421 4.7.0 ${ctx.config.HostName} too many connections, try again later\r\n`;
}

const ROWS: [ServiceName, "PortSMTP" | "PortSubmission" | "PortSMTPS", boolean][] = [
  ["smtp", "PortSMTP", false],
  ["submission", "PortSubmission", false],
  ["smtps", "PortSMTPS", true],
];

for (const [name, portKey, implicitTls] of ROWS) {
  registerService({
    name,
    family: "smtp",
    portKey,
    ipsKey: "ListenIP",
    implicitTls,
    refusal,
    handle: (ctx, conn) => new SmtpSession(ctx, conn, name, pipeline, COMMANDS).run(),
  });
}
