/**
 * The SMTP listeners (SPEC §1): MX on PortSMTP, submission on PortSubmission (RFC 6409,
 * AUTH before MAIL) and implicit TLS on PortSMTPS (RFC 8314, submission rules).
 */
import type { ServerContext } from "../server/context.ts";
import type { ServiceSpec } from "../server/services.ts";
import { COMMANDS } from "./handlers.ts";
import { type ServiceName, type SmtpPipeline, SmtpSession } from "./session.ts";

/** SPEC §4: at MaxConnections / MaxConnectionsPerIP (RFC 5321 3.8: 421 and close). */
function refusal(ctx: ServerContext): string {
  return `421 4.7.0 ${ctx.config.HostName} too many connections, try again later\r\n`;
}

const ROWS: [ServiceName, "PortSMTP" | "PortSubmission" | "PortSMTPS", boolean][] = [
  ["smtp", "PortSMTP", false],
  ["submission", "PortSubmission", false],
  ["smtps", "PortSMTPS", true],
];

/** The SMTP rows; every session decides policy and delivers through `pipeline`. */
export function smtpServices(pipeline: SmtpPipeline): ServiceSpec[] {
  return ROWS.map(([name, portKey, implicitTls]) => ({
    name,
    family: "smtp",
    portKey,
    ipsKey: "ListenIP",
    implicitTls,
    refusal,
    handle: (ctx, conn) => new SmtpSession(ctx, conn, name, pipeline, COMMANDS).run(),
  }));
}
