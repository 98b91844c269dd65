/**
 * IMAP listeners (SPEC §1): PortIMAP with STARTTLS (RFC 3501 §6.2.1) and PortIMAPS
 * with implicit TLS (RFC 8314). Over the connection limits the refusal is an untagged
 * BYE with [UNAVAILABLE] (RFC 5530), as SPEC §4 asks.
 */
import { registerService } from "../server/services.ts";
import { handleImap } from "./session.ts";

const refusal = "* BYE [UNAVAILABLE] too many connections\r\n";

registerService({
  name: "imap",
  family: "imap",
  portKey: "PortIMAP",
  ipsKey: "ListenIP",
  implicitTls: false,
  refusal,
  handle: handleImap,
});

registerService({
  name: "imaps",
  family: "imap",
  portKey: "PortIMAPS",
  ipsKey: "ListenIP",
  implicitTls: true,
  refusal,
  handle: handleImap,
});
