/**
 * The compliance gaps of issue 16, through the real daemon: \Recent seen by EXAMINE,
 * STATUS and SEARCH NEW/OLD/RECENT (RFC 3501 §2.3.2, §6.3.2, §6.3.10); keywords announced
 * in FLAGS before a FETCH shows them (§7.2.6); "[" in a mailbox atom; LIST-EXTENDED
 * CHILDINFO (RFC 5258 §3.5); SEARCH FROM/TO/CC/BCC address matching; GETQUOTAROOT
 * (RFC 9208); OBJECTID (RFC 8474).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";
const enc = new TextEncoder();

/** Numbers of the `* SEARCH` response. */
function nums(lines: string[]): number[] {
  const l = lines.find((x) => x.startsWith("* SEARCH"));
  if (l === undefined) throw new Error(`no SEARCH in ${JSON.stringify(lines)}`);
  return l.slice(8).trim().split(" ").filter(Boolean).map(Number);
}

async function append(c: ImapClient, box: string, data: Uint8Array, flags = ""): Promise<void> {
  const tag = c.nextTag();
  await c.line.write(enc.encode(`${tag} APPEND ${box} (${flags}) {${data.length}+}\r\n`));
  await c.line.write(data);
  await c.line.write("\r\n");
  equal((await c.result(tag)).status, "OK");
}

async function session(port: number): Promise<ImapClient> {
  const c = await ImapClient.connect(port);
  await c.login(USER, PASS);
  return c;
}

Deno.test("imap compliance: \\Recent, keywords, atoms with [, CHILDINFO", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const clients: ImapClient[] = [];
  try {
    const a = await session(srv.ports.imap), b = await session(srv.ports.imap);
    const c = await session(srv.ports.imap);
    clients.push(a, b, c);
    equal((await a.cmd("CREATE Box")).status, "OK");
    await append(a, "Box", message({ subject: "one" }), "\\Seen");
    await append(a, "Box", message({ subject: "two" }));
    // Nobody has seen them: STATUS and EXAMINE report them recent, without claiming.
    let r = await b.cmd("STATUS Box (RECENT MESSAGES)");
    equal(r.lines[0], '* STATUS "Box" (RECENT 2 MESSAGES 2)');
    r = await b.cmd("EXAMINE Box");
    ok(r.lines.includes("* 2 RECENT"), r.lines.join("\n"));
    deepStrictEqual(nums((await b.cmd("SEARCH RECENT")).lines), [1, 2]);
    deepStrictEqual(nums((await b.cmd("SEARCH NEW")).lines), [2]);
    deepStrictEqual(nums((await b.cmd("SEARCH OLD")).lines), []);
    // The first SELECT claims them; later sessions see them as old.
    r = await c.cmd("SELECT Box");
    ok(r.lines.includes("* 2 RECENT"), r.lines.join("\n"));
    deepStrictEqual(nums((await c.cmd("SEARCH RECENT")).lines), [1, 2]);
    r = await a.cmd("EXAMINE Box");
    ok(r.lines.includes("* 0 RECENT"), r.lines.join("\n"));
    deepStrictEqual(nums((await a.cmd("SEARCH OLD")).lines), [1, 2]);
    deepStrictEqual(nums((await a.cmd("SEARCH NEW")).lines), []);
    equal((await a.cmd("STATUS Box (RECENT)")).lines[0], '* STATUS "Box" (RECENT 0)');

    // Keywords: FLAGS (with PERMANENTFLAGS) comes before the first FETCH that shows one.
    r = await c.cmd("STORE 1 +FLAGS ($hello NIL $Label5)");
    const flagsAt = r.lines.findIndex((l) => l.startsWith("* FLAGS") && l.includes("$hello"));
    const fetchAt = r.lines.findIndex((l) => /^\* 1 FETCH .*\$hello/.test(l));
    ok(flagsAt >= 0 && fetchAt > flagsAt, r.lines.join("\n"));
    ok(r.lines.some((l) => /PERMANENTFLAGS \(.*\$Label5.*\\\*\)/.test(l)));
    // The other session learns of them before its FETCH shows them, once.
    r = await b.cmd("FETCH 1 (FLAGS)");
    const seenAt = r.lines.findIndex((l) => l.startsWith("* FLAGS") && l.includes("NIL"));
    const shownAt = r.lines.findIndex((l) => /^\* 1 FETCH .*NIL/.test(l));
    ok(seenAt >= 0 && shownAt > seenAt, r.lines.join("\n"));
    r = await b.cmd("FETCH 1 (FLAGS)");
    ok(!r.lines.some((l) => l.startsWith("* FLAGS")), r.lines.join("\n"));

    // A valid atom with "[" is a mailbox name: no such mailbox (NO), not BAD.
    const odd = "!#$&'+,-.0123456789:;<=>?@^_`|[}";
    r = await a.cmd(`SELECT ${odd}`);
    equal(r.status, "NO", r.tagged);
    r = await a.cmd(`LIST "" ${odd}%*`);
    equal(r.status, "OK", r.tagged);
    equal((await a.cmd("NOOP")).status, "OK");
    // In a fetch att "[" still opens a section with spaces inside.
    r = await a.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])");
    equal(r.status, "OK", r.tagged);

    // LIST-EXTENDED CHILDINFO (RFC 5258 §3.5): only for a subscribed child not listed.
    equal((await a.cmd("CREATE a/b/c")).status, "OK");
    equal((await a.cmd("SUBSCRIBE a/b/c")).status, "OK");
    r = await a.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" (a/b a/b/c)');
    deepStrictEqual(r.lines, ['* LIST (\\HasNoChildren \\Subscribed) "/" "a/b/c"']);
    r = await a.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "a/%"');
    deepStrictEqual(r.lines, ['* LIST (\\HasChildren) "/" "a/b" ("CHILDINFO" ("SUBSCRIBED"))']);
    equal((await a.cmd("SUBSCRIBE a/b")).status, "OK");
    r = await a.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "a/%"');
    deepStrictEqual(r.lines, [
      '* LIST (\\HasChildren \\Subscribed) "/" "a/b" ("CHILDINFO" ("SUBSCRIBED"))',
    ]);
    r = await a.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "a/*"');
    equal(r.lines.filter((l) => l.includes("CHILDINFO")).length, 0, r.lines.join("\n"));
  } finally {
    for (const c of clients) c.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap compliance: SEARCH FROM/TO/CC/BCC match addresses however written", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  const froms = [
    "user-from@domain.org", // 1
    '"Real From" <user-from@domain.org>', // 2
    "user-from@domain.org (realfrom)", // 3
    "=?utf-8?q?Real_From?= <user-from@domain.org>", // 4
    '"user-from"@domain.org', // 5: quoted local part
    "user-from\r\n @domain.org", // 6: folded inside the address
    "Someone Else <other@elsewhere.example>", // 7
  ];
  for (const from of froms) {
    await seed.store.deliver([{ root }], message({ from, to: "user-to@domain.org" }));
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const c = await session(srv.ports.imap);
  try {
    await c.cmd("SELECT INBOX");
    const search = async (q: string) => nums((await c.cmd(`SEARCH ${q}`)).lines);
    deepStrictEqual(await search("FROM user-from@domain.org"), [1, 2, 3, 4, 5, 6]);
    deepStrictEqual(await search("FROM user-from"), [1, 2, 3, 4, 5, 6]);
    deepStrictEqual(await search("FROM domain.org"), [1, 2, 3, 4, 5, 6]);
    deepStrictEqual(await search('FROM "real from"'), [2, 4]); // display name, decoded
    deepStrictEqual(await search("FROM realfrom"), [3]); // the comment names it
    deepStrictEqual(await search('FROM "<user-from@domain.org>"'), [1, 2, 3, 4, 5, 6]);
    deepStrictEqual(await search("TO user-to@domain.org"), [1, 2, 3, 4, 5, 6, 7]);
    deepStrictEqual(await search("CC user"), []);
    deepStrictEqual(await search('HEADER FROM ""'), [1, 2, 3, 4, 5, 6, 7]);
  } finally {
    c.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap compliance: GETQUOTAROOT names a root only with its QUOTA (RFC 9208)", async () => {
  const seed = await seedUsers({ [USER]: PASS, "q@example.com": PASS }, { quota: 0 });
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await session(srv.ports.imap);
    let r = await c.cmd("CAPABILITY");
    match(r.lines[0], / QUOTA .* QUOTA=RES-STORAGE /);
    // No quota: no root, so no QUOTA line either.
    r = await c.cmd("GETQUOTAROOT INBOX");
    deepStrictEqual(r.lines, ['* QUOTAROOT "INBOX"']);
    equal((await c.cmd('GETQUOTA ""')).status, "NO");
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
  const quota = await seedUsers({ [USER]: PASS }, { quota: 10 << 20 });
  await quota.store.deliver([{ root: quota.roots[USER] }], message({ body: "x".repeat(3000) }));
  const srv2 = await startTestServer({ dirBase: quota.dirBase });
  try {
    const c = await session(srv2.ports.imap);
    const r = await c.cmd("GETQUOTAROOT INBOX");
    deepStrictEqual(r.lines, ['* QUOTAROOT "INBOX" ""', '* QUOTA "" (STORAGE 4 10240)']);
    c.close();
  } finally {
    await srv2.stop();
    await Deno.remove(quota.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap OBJECTID: MAILBOXID, EMAILID, THREADID (RFC 8474)", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  // The helper's own Message-ID gives way to the one the thread needs.
  const first = new TextDecoder().decode(message({})).replace(
    /Message-ID: <[^>]+>/,
    "Message-ID: <t1@x>",
  );
  await seed.store.deliver([{ root }], enc.encode(first));
  const reply = message({ subject: "Re: Hello", headers: ["References: <t1@x>"] });
  await seed.store.deliver([{ root }], reply);
  await seed.store.deliver([{ root }], message({ subject: "other" }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const c = await session(srv.ports.imap);
  try {
    match((await c.cmd("CAPABILITY")).lines[0], / OBJECTID/);
    // MAILBOXID: told by CREATE, kept through RENAME, in STATUS and SELECT.
    const created = await c.cmd("CREATE Projects");
    const id = /\[MAILBOXID \((F[\w-]+)\)\]/.exec(created.tagged)?.[1];
    ok(id, created.tagged);
    equal((await c.cmd("RENAME Projects Work")).status, "OK");
    equal((await c.cmd("STATUS Work (MAILBOXID)")).lines[0], `* STATUS "Work" (MAILBOXID (${id}))`);
    const recreated = await c.cmd("CREATE Projects");
    ok(!recreated.tagged.includes(id!), "a new mailbox of an old name gets a new id");
    let r = await c.cmd("SELECT INBOX");
    ok(r.lines.some((l) => /^\* OK \[MAILBOXID \(F[\w-]+\)\]/.test(l)), r.lines.join("\n"));
    // EMAILID and THREADID.
    r = await c.cmd("FETCH 1:3 (EMAILID THREADID)");
    const ids = r.lines.map((l) => /EMAILID \(([\w-]+)\) THREADID \(([\w-]+)\)/.exec(l)!.slice(1));
    equal(ids.length, 3);
    equal(ids[0][1], ids[1][1], "a reply shares its thread's THREADID");
    ok(ids[2][1] !== ids[0][1]);
    ok(new Set(ids.map((x) => x[0])).size === 3);
    // COPY keeps EMAILID (same content); SEARCH finds by either id.
    equal((await c.cmd("COPY 2 Work")).status, "OK");
    const found = await c.cmd(`SEARCH EMAILID ${ids[1][0]}`);
    deepStrictEqual(nums(found.lines), [2], found.tagged);
    deepStrictEqual(nums((await c.cmd(`SEARCH THREADID ${ids[0][1]}`)).lines), [1, 2]);
    equal((await c.cmd("SEARCH EMAILID bad!id")).status, "BAD");
    await c.cmd("SELECT Work");
    r = await c.cmd("FETCH 1 (EMAILID)");
    match(r.lines[0], new RegExp(`EMAILID \\(${ids[1][0]}\\)`));
    // INBOX's id was made by its first SELECT, while the folder loaded (commands_select.ts
    // mailboxIdEarly): the same one afterwards, in SELECT and STATUS.
    const inboxId = /\[MAILBOXID \((F[\w-]+)\)\]/.exec(
      (await c.cmd("SELECT INBOX")).lines.join("\n"),
    )?.[1];
    ok(inboxId);
    r = await c.cmd("SELECT INBOX");
    ok(r.lines.includes(`* OK [MAILBOXID (${inboxId})] Mailbox id`), r.lines.join("\n"));
    match((await c.cmd("STATUS Work (MAILBOXID)")).lines[0], new RegExp(id!));
    // A mailbox that is not there: NO [NONEXISTENT], and no id file made for it.
    match((await c.cmd("SELECT Nowhere")).tagged, /NO \[NONEXISTENT\]/);
    const made = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => /Nowhere/.test(n));
    deepStrictEqual(made, []);
  } finally {
    c.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
