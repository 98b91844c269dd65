/**
 * A real modern client against the daemon: the npm `imapflow` library (used by many Node
 * mail applications). CONDSTORE/QRESYNC resynchronization after changes made while it was
 * away (RFC 7162 §3.2.5), IDLE announcing a new message (RFC 2177), and SORT sent through
 * its command interface and answered in a form it parses (RFC 5256), and THREAD.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ImapFlow } from "imapflow";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";

function flow(port: number): ImapFlow {
  return new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: { user: USER, pass: PASS },
    logger: false,
    qresync: true,
  });
}

type Attr = { type: string; value: string } | Attr[];

/**
 * Runs a command through imapflow's own command pipeline (its `exec`, which it marks
 * internal: it has no SORT or THREAD method) and returns the numbers of the command's
 * untagged response, flattened.
 */
async function command(client: ImapFlow, name: string, attrs: Attr[]): Promise<number[]> {
  let found: number[] = [];
  const exec = (client as unknown as {
    exec(c: string, a: Attr[], o: unknown): Promise<unknown>;
  }).exec.bind(client);
  const done = await exec(name, attrs, {
    untagged: {
      [name.replace(/^UID /, "")]: (u: { attributes: unknown }) =>
        void (found = numbers(u.attributes)),
    },
  }) as { next(): void };
  done.next(); // imapflow holds its reader until the command's caller says so
  return found;
}

/** Numbers of an untagged response's attributes (SORT, THREAD lists flattened). */
function numbers(attrs: unknown): number[] {
  const out: number[] = [];
  const walk = (a: unknown) => {
    if (Array.isArray(a)) a.forEach(walk);
    else if (a && typeof a === "object" && "value" in a) out.push(Number(a.value));
  };
  walk(attrs);
  return out;
}

Deno.test("imapflow: QRESYNC resync, IDLE, SORT and THREAD", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  const subjects = ["charlie", "alpha", "Re: bravo", "bravo"];
  for (const subject of subjects) await seed.store.deliver([{ root }], message({ subject }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const raw = await ImapClient.connect(srv.ports.imap);
  let client = flow(srv.ports.imap);
  try {
    await raw.login(USER, PASS);
    await client.connect();
    ok(client.enabled.has("QRESYNC"), "imapflow enabled QRESYNC");
    let box = await client.mailboxOpen("INBOX");
    equal(box.exists, 4);
    const uidValidity = box.uidValidity, modseq = box.highestModseq!;
    ok(modseq > 0n);
    await client.logout();

    // While it is away: a flag change and an expunge.
    await raw.cmd("SELECT INBOX");
    equal((await raw.cmd("STORE 1 +FLAGS (\\Flagged)")).status, "OK");
    equal((await raw.cmd("STORE 4 +FLAGS (\\Deleted)")).status, "OK");
    equal((await raw.cmd("EXPUNGE")).status, "OK");

    client = flow(srv.ports.imap);
    const vanished: unknown[] = [], flagged: unknown[] = [];
    client.on("expunge", (e: unknown) => vanished.push(e));
    client.on("flags", (e: unknown) => flagged.push(e));
    await client.connect();
    box = await client.mailboxOpen("INBOX", { uidValidity, changedSince: modseq });
    equal(box.exists, 3);
    equal(vanished.length, 1, "the expunge was reported as VANISHED (EARLIER)");
    ok(flagged.length >= 1, "the flag change was reported");
    // CHANGEDSINCE: only the changed message.
    const changed = [];
    for await (const m of client.fetch("1:*", { flags: true }, { changedSince: modseq })) {
      changed.push(m);
    }
    equal(changed.length, 1);
    ok((changed[0].flags as Set<string>).has("\\Flagged"));

    // SORT and THREAD through imapflow's command interface.
    const atom = (value: string) => ({ type: "ATOM", value });
    const sorted = await command(client, "SORT", [[atom("SUBJECT")], atom("UTF-8"), atom("ALL")]);
    deepStrictEqual(sorted, [2, 3, 1]); // alpha, Re: bravo, charlie
    const reverse = await command(client, "UID SORT", [
      [atom("REVERSE"), atom("SUBJECT")],
      atom("UTF-8"),
      atom("ALL"),
    ]);
    deepStrictEqual(reverse, [1, 3, 2]); // UIDs: charlie, Re: bravo, alpha
    const threads = await command(client, "THREAD", [
      atom("ORDEREDSUBJECT"),
      atom("UTF-8"),
      atom("ALL"),
    ]);
    // One thread each; the same Date: everywhere, so by sequence number.
    deepStrictEqual(threads, [1, 2, 3]);

    // IDLE: a message appended by another session is announced at once.
    const exists = new Promise<number>((resolve) => {
      client.on("exists", (e: { count: number }) => resolve(e.count));
    });
    const idling = client.idle();
    await new Promise((r) => setTimeout(r, 200));
    const data = message({ subject: "new" });
    const tag = raw.nextTag();
    await raw.line.write(new TextEncoder().encode(`${tag} APPEND INBOX {${data.length}+}\r\n`));
    await raw.line.write(data);
    await raw.line.write("\r\n");
    equal((await raw.result(tag)).status, "OK");
    equal(await exists, 4);
    await client.noop(); // ends IDLE
    await idling;
    await client.logout();
  } finally {
    client.close();
    raw.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
