/**
 * The administration listener (SPEC §4): PortAdmin on AdminIP only, plain TCP (made to
 * be typed in telnet), "-ERR too many connections" at the limits.
 */
import type { ServiceSpec } from "../server/services.ts";
import { AdminSession } from "./session.ts";

export function adminService(): ServiceSpec {
  return {
    name: "admin",
    family: "admin",
    portKey: "PortAdmin",
    ipsKey: "AdminIP",
    implicitTls: false,
    refusal: "-ERR too many connections\r\n",
    handle: (ctx, conn) => new AdminSession(ctx, conn).run(),
  };
}
