/**
 * SPEC §4: at MaxConnections or MaxConnectionsPerIP every service answers with its own
 * refusal and closes: SMTP `421 4.7.0`, POP3 `-ERR [SYS/TEMP]`, IMAP `* BYE [UNAVAILABLE]`,
 * admin `-ERR`. Client addresses 127.0.0.x stand for different hosts.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { freePorts, startTestServer } from "./helpers/server.ts";
import { AdminWire, hashedRoot, kvLines, until, Wire } from "./helpers/spec.ts";

const SERVICES: { name: string; greeting: RegExp; refusal: RegExp }[] = [
  { name: "smtp", greeting: /^220 /, refusal: /^421 4\.7\.0 / },
  { name: "pop3", greeting: /^\+OK/, refusal: /^-ERR \[SYS\/TEMP\]/ },
  { name: "imap", greeting: /^\* OK/, refusal: /^\* BYE \[UNAVAILABLE\]/ },
  { name: "admin", greeting: /^\+OK eXtremail admin ready$/, refusal: /^-ERR/ },
];

Deno.test("spec §3/§4: connection limits, idle timeouts, TLS-only ports, HashDirs", async (t) => {
  // Implicit-TLS ports are configured but there is no certificate: they must stay closed.
  const [smtps, pop3s, imaps] = freePorts(3);
  const tlsPorts = { PortSMTPS: smtps, PortPOP3S: pop3s, PortIMAPS: imaps };
  const srv = await startTestServer({
    config: {
      MaxConnections: 3,
      MaxConnectionsPerIP: 2,
      TimeoutSMTP: 2,
      TimeoutPOP3: 2,
      HashDirs: 1,
      ...tlsPorts,
    },
  });
  try {
    for (const s of SERVICES) {
      await t.step(s.name, async () => {
        const port = srv.ports[s.name];
        const open = async (from: string) => {
          const w = await Wire.connect(port, from);
          const line = (await w.readLine()) ?? "";
          return { w, line };
        };
        const held: Wire[] = [];
        try {
          for (const from of ["127.0.0.1", "127.0.0.1"]) {
            const c = await open(from);
            assertMatch(c.line, s.greeting, `${s.name} from ${from}`);
            held.push(c.w);
          }
          // Per address: the third from 127.0.0.1 is refused.
          const perIp = await open("127.0.0.1");
          assertMatch(perIp.line, s.refusal, `${s.name} per-IP refusal`);
          assert(await perIp.w.closedByPeer(3000), `${s.name}: refused connection stays open`);
          perIp.w.close();
          // Another address still gets in, up to MaxConnections in all.
          const other = await open("127.0.0.2");
          assertMatch(other.line, s.greeting);
          held.push(other.w);
          const total = await open("127.0.0.3");
          assertMatch(total.line, s.refusal, `${s.name} MaxConnections refusal`);
          assert(await total.w.closedByPeer(3000));
          total.w.close();
          // A closed connection frees its slot.
          held.pop()!.close();
          await until(
            async () => {
              const c = await open("127.0.0.4");
              c.w.close();
              return s.greeting.test(c.line);
            },
            5000,
            `${s.name}: slot freed`,
          );
        } finally {
          for (const w of held) w.close();
        }
        // Let the server see the closes before the next service (admin counts itself).
        await new Promise((r) => setTimeout(r, 100));
      });
    }
    await t.step("idle SMTP and POP3 sessions are closed after their timeout", async () => {
      const smtp = await Wire.connect(srv.ports.smtp);
      await smtp.smtp();
      const pop = await Wire.connect(srv.ports.pop3);
      await pop.readLine();
      const started = Date.now();
      assertMatch(await smtp.smtp(6000), /^421 /);
      assertMatch((await pop.readLine(6000))!, /^-ERR/);
      assert(await smtp.closedByPeer(2000));
      assert(await pop.closedByPeer(2000));
      assert(Date.now() - started >= 1000, "closed before the timeout");
      smtp.close();
      pop.close();
    });

    await t.step("no certificate: no implicit-TLS listeners, no STARTTLS, no STLS", async () => {
      for (const port of Object.values(tlsPorts)) {
        let connected = false;
        try {
          (await Wire.connect(port)).close();
          connected = true;
        } catch { /* refused, as it should be */ }
        assert(!connected, `port ${port} listens without a certificate`);
      }
      const smtp = await Wire.connect(srv.ports.smtp);
      await smtp.smtp();
      const ehlo = await smtp.cmd("EHLO x");
      assert(!/STARTTLS/.test(ehlo), ehlo);
      smtp.close();
      const pop = await Wire.connect(srv.ports.pop3);
      await pop.readLine();
      await pop.send("CAPA");
      const capa = await pop.readUntil((l) => l === "." || l.startsWith("-ERR"));
      assert(!capa.includes("STLS"), capa.join("\n"));
      pop.close();
    });

    await t.step("HashDirs = 1: DirBase/domains/<domain>/<h1>/<user>/", async () => {
      const a = await AdminWire.open(srv.ports.admin);
      try {
        await a.ok("DOMAIN ADD NAME=hash.example");
        await a.ok("USER ADD NAME=Hashed.User DOMAIN=hash.example");
        const root = hashedRoot(srv.config.DirBase, "hash.example", "hashed.user", 1);
        const dir = kvLines(await a.ok("USER SHOW NAME=hashed.user DOMAIN=hash.example")).Dir;
        assertEquals(dir.replace(/\/$/, ""), root);
        assert((await Deno.stat(join(root, ".Archive", "cur"))).isDirectory);
      } finally {
        a.close();
      }
    });
  } finally {
    await srv.stop();
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});
