/**
 * POP3 listeners (SPEC §1): PortPOP3 with STLS (RFC 2595) and PortPOP3S with implicit
 * TLS (RFC 8314). Over the connection limits the refusal carries [SYS/TEMP]
 * (RFC 3206), so clients retry later instead of reporting a bad password.
 */
import type { ServiceSpec } from "../server/services.ts";
import { POP3_COMMANDS, Pop3Session } from "./session.ts";

const refusal = "-ERR [SYS/TEMP] too many connections\r\n";

/** The POP3 rows; each session runs the POP3 command table. */
export function pop3Services(): ServiceSpec[] {
  const handle: ServiceSpec["handle"] = (ctx, conn, service) =>
    new Pop3Session(ctx, conn, service, POP3_COMMANDS).run();
  return [
    {
      name: "pop3",
      family: "pop3",
      portKey: "PortPOP3",
      ipsKey: "ListenIP",
      implicitTls: false,
      refusal,
      handle,
    },
    {
      name: "pop3s",
      family: "pop3",
      portKey: "PortPOP3S",
      ipsKey: "ListenIP",
      implicitTls: true,
      refusal,
      handle,
    },
  ];
}
