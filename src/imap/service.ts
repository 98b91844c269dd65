/**
 * IMAP listeners (SPEC §1): PortIMAP with STARTTLS (RFC 3501 §6.2.1) and PortIMAPS
 * with implicit TLS (RFC 8314). Over the connection limits the refusal is an untagged
 * BYE with [UNAVAILABLE] (RFC 5530), as SPEC §4 asks.
 */
import type { ServiceSpec } from "../server/services.ts";
import type { CommandTable } from "./command_table.ts";
import { IMAP_COMMANDS } from "./commands.ts";
import { Session } from "./session.ts";

const refusal = "* BYE [UNAVAILABLE] too many connections\r\n";

/** The IMAP rows; each session runs the given command table. */
export function imapServices(commands: CommandTable = IMAP_COMMANDS): ServiceSpec[] {
  const handle: ServiceSpec["handle"] = (ctx, conn) => new Session(ctx, conn, commands).run();
  return [
    {
      name: "imap",
      family: "imap",
      portKey: "PortIMAP",
      ipsKey: "ListenIP",
      implicitTls: false,
      refusal,
      handle,
    },
    {
      name: "imaps",
      family: "imap",
      portKey: "PortIMAPS",
      ipsKey: "ListenIP",
      implicitTls: true,
      refusal,
      handle,
    },
  ];
}
