/**
 * POP3 listeners (SPEC §1): PortPOP3 with STLS (RFC 2595) and PortPOP3S with implicit
 * TLS (RFC 8314). Over the connection limits the refusal carries [SYS/TEMP]
 * (RFC 3206), so clients retry later instead of reporting a bad password.
 */
import { registerService } from "../server/services.ts";
import { handlePop3 } from "./session.ts";

const refusal = "-ERR [SYS/TEMP] too many connections\r\n";

registerService({
  name: "pop3",
  family: "pop3",
  portKey: "PortPOP3",
  ipsKey: "ListenIP",
  implicitTls: false,
  refusal,
  handle: handlePop3,
});

registerService({
  name: "pop3s",
  family: "pop3",
  portKey: "PortPOP3S",
  ipsKey: "ListenIP",
  implicitTls: true,
  refusal,
  handle: handlePop3,
});
