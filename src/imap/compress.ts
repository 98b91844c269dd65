/**
 * COMPRESS (RFC 4978): `COMPRESS DEFLATE` turns on raw DEFLATE in both directions right
 * after the tagged OK. The byte stream is changed inside the Connection
 * (Connection.startCompression, src/net/deflate_layer.ts), so everything above it —
 * literals, IDLE, back-pressure — works unchanged, and the Outbox's one write per
 * response batch becomes one compressed, flushed block per batch (§4).
 */
import { bad, no } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";

const compressCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { tag, args }) {
    const mechanism = args.atom("compression mechanism").toUpperCase();
    args.end();
    if (mechanism !== "DEFLATE") {
      throw bad(`Unknown compression mechanism ${mechanism.slice(0, 30)}`);
    }
    // RFC 4978 §3: a second COMPRESS is refused with this response code.
    if (s.conn.compressed) throw no("DEFLATE is already active", "COMPRESSIONACTIVE");
    // The OK goes out uncompressed; compression starts right after its CRLF.
    s.out.text(`${tag} OK DEFLATE active\r\n`);
    await s.out.flush();
    s.conn.startCompression();
    return { text: "", silent: true };
  },
};

export const COMPRESS_COMMANDS: Record<string, CommandSpec> = {
  COMPRESS: compressCommand,
};
