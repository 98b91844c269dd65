import { createServer } from "node:net";
import { connect, createSecureContext, TLSSocket } from "node:tls";
import { TEST_CERT, TEST_KEY } from "../tests/helpers/server.ts";
const ctx = createSecureContext({
  cert: Deno.readTextFileSync(TEST_CERT),
  key: Deno.readTextFileSync(TEST_KEY),
});
const delay = Number(Deno.args[0] ?? 200);
const pause = Deno.args[1] === "pause";
const server = createServer({ pauseOnConnect: pause }, (sock) => {
  setTimeout(() => {
    const t = new TLSSocket(sock, { isServer: true, secureContext: ctx });
    t.on("secure", () => {
      t.write("hello from server\n");
    });
    t.on("data", (d) => {
      t.write("echo:" + d.toString());
    });
    t.on("error", (e) => console.log("server err", e.message));
    if (pause) sock.resume();
  }, delay);
});
server.listen(0, "127.0.0.1", () => {
  const port = (server.address() as any).port;
  const c = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
    c.write("ping\n");
  });
  let got = "";
  c.on("data", (d) => {
    got += d.toString();
    if (got.includes("echo:ping")) {
      console.log("OK", JSON.stringify(got));
      c.destroy();
      server.close();
    }
  });
  c.on("error", (e) => console.log("client err", e.message));
  setTimeout(() => {
    console.log("TIMEOUT", JSON.stringify(got));
    Deno.exit(1);
  }, 3000);
});
