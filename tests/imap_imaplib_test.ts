/**
 * Python's imaplib against the daemon: the calls imaplib-based tools make, and the
 * MIME corpus (tests/fixtures/mime) fetched as BODYSTRUCTURE/ENVELOPE/BODY[] through
 * the server, compared with the MIME engine's own output.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { message, seedUsers } from "./helpers/imap.ts";
import { FIXTURES, python, startTestServer } from "./helpers/server.ts";
import { toCrlf } from "../src/message/line_endings.ts";
import { parseMessage } from "../src/message/mime.ts";
import { bodyStructure } from "../src/imap/mime/bodystructure.ts";
import { envelope } from "../src/imap/mime/envelope.ts";

const USER = "carol@example.com", PASS = "pw-carol";

const SCRIPT = `
import imaplib, json, sys
port = int(sys.argv[1])
out = {}
M = imaplib.IMAP4("127.0.0.1", port)
out["caps"] = list(M.capabilities)
M.login("${USER}", "${PASS}")
typ, boxes = M.list()
out["list"] = [b.decode() for b in boxes]
typ, data = M.select("INBOX")
out["exists"] = int(data[0])
typ, data = M.search(None, "FROM", "alice")
out["search_from"] = data[0].decode()
typ, data = M.search(None, "SUBJECT", '"number 2"')
out["search_subject"] = data[0].decode()
typ, data = M.search(None, "OR", "SUBJECT", '"number 1"', "SUBJECT", '"number 3"')
out["search_or"] = data[0].decode()
typ, data = M.search(None, "SENTSINCE", "1-Jan-2000", "NOT", "SEEN")
out["search_sentsince"] = data[0].decode()
typ, data = M.search(None, "BODY", "needle")
out["search_body"] = data[0].decode()
typ, data = M.uid("SEARCH", None, "UID", "2:*", "LARGER", "10")
out["uid_search"] = data[0].decode()
typ, data = M.fetch("1", "(RFC822)")
out["rfc822_len"] = len(data[0][1])
typ, data = M.fetch("1", "(FLAGS)")
out["flags_after"] = data[0].decode()
typ, data = M.store("2", "+FLAGS", "(\\\\Flagged $Forwarded)")
out["store"] = data[0].decode()
typ, data = M.copy("1:2", "Archive")
out["copy"] = typ
typ, data = M.uid("MOVE", "3", "Trash")
out["move"] = typ
typ, data = M.append("Drafts", "(\\\\Draft)", imaplib.Time2Internaldate(1600000000), b"Subject: draft\\r\\n\\r\\nbody\\r\\n")
out["append"] = typ
typ, data = M.status("Drafts", "(MESSAGES UNSEEN)")
out["status"] = data[0].decode()
M.store("1", "+FLAGS", "\\\\Deleted")
typ, data = M.expunge()
out["expunge"] = [d.decode() for d in data if d]
typ, data = M.select("Archive", readonly=True)
out["archive"] = int(data[0])
typ, data = M.fetch("1:*", "(UID FLAGS)")
out["archive_flags"] = [d.decode() for d in data]
M.close()
M.logout()
print(json.dumps(out))
`;

Deno.test("imap: imaplib session", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 1; i <= 3; i++) {
    await seed.store.deliver(
      [{ root }],
      message({ subject: `number ${i}`, body: i === 2 ? "a needle here" : "hay" }),
    );
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const out = JSON.parse(await python(SCRIPT, [String(srv.ports.imap)]));
    ok(out.caps.includes("IMAP4REV1") && out.caps.includes("IDLE"));
    ok(out.list.includes('(\\HasNoChildren \\Sent) "/" "Sent"'), out.list.join("\n"));
    equal(out.exists, 3);
    equal(out.search_from, "1 2 3");
    equal(out.search_subject, "2");
    equal(out.search_or, "1 3");
    equal(out.search_sentsince, "");
    equal(out.search_body, "2");
    equal(out.uid_search, "2 3");
    ok(out.rfc822_len > 100);
    ok(out.flags_after.includes("\\Seen"), out.flags_after);
    ok(out.store.includes("\\Flagged $Forwarded"), out.store);
    deepStrictEqual([out.copy, out.move, out.append], ["OK", "OK", "OK"]);
    equal(out.status, '"Drafts" (MESSAGES 1 UNSEEN 1)');
    // imaplib also returns the EXPUNGE that UID MOVE produced earlier.
    deepStrictEqual(out.expunge, ["3", "1"]);
    equal(out.archive, 2);
    ok(out.archive_flags[0].includes("\\Seen"));
    ok(out.archive_flags[1].includes("$Forwarded"));
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: MIME corpus through FETCH matches the MIME engine", async () => {
  const dir = join(FIXTURES, "mime");
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".eml")) names.push(e.name);
  names.sort();
  ok(names.length > 0);
  const seed = await seedUsers({ [USER]: PASS });
  const expected: { name: string; size: number; bs: string; env: string }[] = [];
  for (const name of names) {
    const bytes = toCrlf(await Deno.readFile(join(dir, name)));
    await seed.store.deliver([{ root: seed.roots[USER] }], bytes);
    const st = parseMessage(bytes);
    expected.push({
      name,
      size: bytes.length,
      bs: bodyStructure(bytes, st, true),
      env: envelope(bytes, st),
    });
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const script = `
import imaplib, json, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("${USER}", "${PASS}")
M.select("INBOX")
out = []
for i in range(1, ${names.length + 1}):
    typ, data = M.fetch(str(i), "(RFC822.SIZE BODY.PEEK[])")
    out.append(len(data[0][1]))
typ, data = M.fetch("1:*", "(BODYSTRUCTURE ENVELOPE)")
raw = b"".join(d if isinstance(d, bytes) else d[0] + b"{" + str(len(d[1])).encode() + b"}" + d[1] for d in data)
print(json.dumps({"sizes": out, "raw": raw.decode("utf-8", "replace")}))
`;
    const out = JSON.parse(await python(script, [String(srv.ports.imap)]));
    deepStrictEqual(out.sizes, expected.map((e) => e.size));
    for (const e of expected) {
      // Literal-free structures appear verbatim in the response.
      if (!e.bs.includes("{")) ok(out.raw.includes(`BODYSTRUCTURE ${e.bs}`), e.name);
      if (!e.env.includes("{")) ok(out.raw.includes(`ENVELOPE ${e.env}`), e.name);
    }
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
