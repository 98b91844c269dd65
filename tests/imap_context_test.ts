/**
 * CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4) through the daemon, from the RFC's
 * examples: PARTIAL (§4.4), the CONTEXT hint (§4.2), UPDATE with ADDTO / REMOVEFROM as a
 * second session appends, stores, moves and expunges (§4.3.3, §4.3.4, SORT positions
 * checked by applying them to the client's copy of the result and comparing with a fresh
 * SORT), tag reuse (§4.3), NOUPDATE (§4.3.1), CANCELUPDATE (§4.3.5), and the interplay
 * with IDLE and NOTIFY (RFC 5465 §7: UPDATE's fetch attributes, order of EXISTS, FETCH
 * and ESEARCH, REMOVEFROM before EXPUNGE).
 */
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const USER = "ctx@example.com", PASS = "pw-ctx";

/** Sends a command under a tag of our choice (RFC 5267 names contexts by tag). */
async function tagged(c: ImapClient, tag: string, text: string) {
  await c.line.send(`${tag} ${text}`);
  return await c.result(tag);
}

/** APPEND with a non-synchronizing literal. */
async function append(c: ImapClient, text: string, flags = ""): Promise<number> {
  const n = new TextEncoder().encode(text).length;
  const r = await c.cmd(`APPEND INBOX (${flags}) {${n}+}\r\n${text}`);
  assertEquals(r.status, "OK", r.tagged);
  return Number(/APPENDUID \d+ (\d+)/.exec(r.tagged)![1]);
}

/** Unsolicited lines until one matches `done` (literals inlined). */
async function expectLines(c: ImapClient, done: RegExp, ms = 5000): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    let line = await c.line.readLine(ms);
    if (line === null) throw new Error(`EOF; got ${lines.join(" | ")}`);
    const m = /\{(\d+)\}$/.exec(line);
    if (m) {
      const bytes = await c.line.readBytes(Number(m[1]));
      line = line + "\n" + new TextDecoder().decode(bytes) + (await c.line.readLine(ms) ?? "");
    }
    lines.push(line);
    if (done.test(line)) return lines;
  }
}

/** Numbers of a sequence set in the order written ("5,3:4" -> 5, 3, 4). */
function expand(set: string): number[] {
  const out: number[] = [];
  for (const part of set.split(",")) {
    const [a, b] = part.split(":").map(Number);
    if (b === undefined) out.push(a);
    else for (let n = a; n <= b; n++) out.push(n);
  }
  return out;
}

/**
 * Applies a context's ADDTO / REMOVEFROM items to the client's copy of the result as
 * RFC 5267 §4.3.2-§4.3.4 say: pairs in order; position 0 anywhere (mailbox order kept).
 */
function apply(list: number[], line: string): number[] {
  const out = [...list];
  for (const m of line.matchAll(/(ADDTO|REMOVEFROM) \(([^)]*)\)/g)) {
    const words = m[2].split(" ");
    for (let i = 0; i < words.length; i += 2) {
      const pos = Number(words[i]), nums = expand(words[i + 1]);
      if (m[1] === "ADDTO") {
        if (pos === 0) {
          out.push(...nums);
          out.sort((a, b) => a - b);
        } else out.splice(pos - 1, 0, ...nums);
      } else if (pos === 0) {
        for (const n of nums) out.splice(out.indexOf(n), 1);
      } else {
        assertEquals(out.slice(pos - 1, pos - 1 + nums.length), nums, `${line} on ${out}`);
        out.splice(pos - 1, nums.length);
      }
    }
  }
  return out;
}

/** The lines without RECENT (whichever session claims \Recent first, RFC 3501 §2.3.2). */
function noRecent(lines: string[]): string[] {
  return lines.filter((l) => !/^\* \d+ RECENT$/.test(l));
}

function esearchOf(lines: string[], tag: string): string[] {
  return lines.filter((l) => l.startsWith(`* ESEARCH (TAG "${tag}")`));
}

/** The UID SORT result as a fresh command gives it. */
async function freshSort(c: ImapClient, criteria: string, key: string): Promise<number[]> {
  const r = await c.cmd(`UID SORT (${criteria}) UTF-8 ${key}`);
  const line = r.lines.find((l) => l.startsWith("* SORT"))!;
  return line.split(" ").slice(2).map(Number);
}

async function withServer(
  subjects: string[],
  fn: (a: ImapClient, b: ImapClient) => Promise<void>,
): Promise<void> {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (const subject of subjects) await seed.store.deliver([{ root }], message({ subject }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const a = await ImapClient.connect(srv.ports.imap);
  const b = await ImapClient.connect(srv.ports.imap);
  try {
    await a.login(USER, PASS);
    await b.login(USER, PASS);
    // B selects first and takes \Recent, so A's FETCH responses carry no \Recent.
    await b.cmd("SELECT INBOX");
    await a.cmd("SELECT INBOX");
    await fn(a, b);
  } finally {
    a.close();
    b.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
}

const TEN = ["k", "b", "d", "f", "h", "d", "j", "l", "n", "p"];

Deno.test("imap CONTEXT: capabilities, PARTIAL (§4.4), the CONTEXT hint (§4.2)", async () => {
  await withServer(TEN, async (a) => {
    const caps = (await a.cmd("CAPABILITY")).lines[0].split(" ");
    assert(caps.includes("CONTEXT=SEARCH") && caps.includes("CONTEXT=SORT"), caps.join(" "));
    await a.cmd("STORE 2,4 +FLAGS (\\Deleted $Junk)");
    // §4.4: the first results, a window past the end (the results there), none at all.
    let r = await tagged(a, "A01", "UID SEARCH RETURN (PARTIAL 1:3) UNDELETED");
    assertEquals(r.lines, ['* ESEARCH (TAG "A01") UID PARTIAL (1:3 1,3,5)']);
    r = await tagged(a, "A02", "UID SEARCH RETURN (PARTIAL 6:500) UNDELETED");
    assertEquals(r.lines, ['* ESEARCH (TAG "A02") UID PARTIAL (6:500 8:10)']);
    r = await tagged(a, "A03", "SEARCH RETURN (PARTIAL 24000:24500) UNDELETED");
    assertEquals(r.lines, ['* ESEARCH (TAG "A03") PARTIAL (24000:24500 NIL)']);
    // A range given high to low is the same range; other options still answer (§4.1).
    r = await tagged(a, "A04", "SEARCH RETURN (MIN COUNT PARTIAL 4:2) UNDELETED");
    assertEquals(r.lines, ['* ESEARCH (TAG "A04") MIN 1 COUNT 8 PARTIAL (2:4 3,5:6)']);
    // CONTEXT=SORT: the window is taken from the sorted result.
    r = await tagged(a, "A05", "UID SORT RETURN (PARTIAL 1:4) (SUBJECT) UTF-8 ALL");
    assertEquals(r.lines, ['* ESEARCH (TAG "A05") UID PARTIAL (1:4 2:3,6,4)']);
    r = await tagged(a, "A06", "UID SORT RETURN (PARTIAL 9:11 COUNT) (REVERSE SUBJECT) UTF-8 ALL");
    assertEquals(r.lines, ['* ESEARCH (TAG "A06") UID COUNT 10 PARTIAL (9:11 6,2)']);
    // §4.2: CONTEXT is a hint; the rest of the options answer as they would.
    r = await tagged(a, "A07", "SEARCH RETURN (CONTEXT COUNT) UNDELETED UNKEYWORD $Junk");
    assertEquals(r.lines, ['* ESEARCH (TAG "A07") COUNT 8']);
    // §4.4: one PARTIAL or one ALL; the range is nz-number ":" nz-number.
    for (
      const bad of [
        "SEARCH RETURN (PARTIAL 1:5 ALL) ALL",
        "SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL",
        "SEARCH RETURN (PARTIAL 1:*) ALL",
        "SEARCH RETURN (PARTIAL 0:5) ALL",
        "SEARCH RETURN (PARTIAL) ALL",
        "SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL",
        "SEARCH RETURN (UPDATE UPDATE) ALL",
      ]
    ) assertEquals((await a.cmd(bad)).status, "BAD", bad);
  });
});

Deno.test("imap CONTEXT=SEARCH: UPDATE as another session changes the mailbox (§4.3)", async () => {
  await withServer(TEN, async (a, b) => {
    await a.cmd("STORE 2,4 +FLAGS (\\Deleted $Junk)");
    // §4.3's example search, then the same tag again is a BAD command.
    let r = await tagged(a, "B01", "UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk");
    assertEquals(r.lines, ['* ESEARCH (TAG "B01") UID COUNT 2']);
    assertEquals(r.status, "OK");
    r = await tagged(a, "B01", "UID SEARCH RETURN (UPDATE) UNSEEN");
    assertEquals(r.status, "BAD");
    // Another session's STORE: the FETCH of the flags, then the ADDTO (RFC 5465 §5.1 order).
    await b.cmd("STORE 5 +FLAGS (\\Deleted $Junk)");
    r = await a.cmd("NOOP");
    assertEquals(r.lines, [
      "* 5 FETCH (UID 5 FLAGS (\\Deleted $Junk))",
      '* ESEARCH (TAG "B01") UID ADDTO (0 5)',
    ]);
    // A flag taken away: REMOVEFROM.
    await b.cmd("STORE 2 -FLAGS (\\Deleted)");
    r = await a.cmd("NOOP");
    assertEquals(esearchOf(r.lines, "B01"), ['* ESEARCH (TAG "B01") UID REMOVEFROM (0 2)']);
    // The session's own STORE is reported too, after its FETCH, before the tagged OK.
    r = await a.cmd("STORE 6 +FLAGS (\\Deleted $Junk)");
    assertEquals(r.lines, [
      "* 6 FETCH (FLAGS (\\Deleted $Junk))",
      '* ESEARCH (TAG "B01") UID ADDTO (0 6)',
    ]);
    // §4.3.3: new messages, after their EXISTS ("ADDTO (0 32768:32769)").
    const u1 = await append(b, "Subject: new one\r\n\r\nx\r\n", "\\Deleted $Junk");
    const u2 = await append(b, "Subject: new two\r\n\r\nx\r\n", "\\Deleted $Junk");
    await append(b, "Subject: not junk\r\n\r\nx\r\n", "\\Deleted");
    r = await a.cmd("NOOP");
    assertEquals(noRecent(r.lines), [
      "* 13 EXISTS",
      `* ESEARCH (TAG "B01") UID ADDTO (0 ${u1}:${u2})`,
    ]);
    // A sequence-number context alongside: numbers are message numbers.
    r = await tagged(a, "B02", "SEARCH RETURN (UPDATE) FLAGGED");
    assertEquals(r.lines, ['* ESEARCH (TAG "B02")']);
    await b.cmd("STORE 3,9 +FLAGS (\\Flagged)");
    r = await a.cmd("NOOP");
    assertEquals(esearchOf(r.lines, "B02"), ['* ESEARCH (TAG "B02") ADDTO (0 3,9)']);
    // §4.3.4: an expunge elsewhere; the REMOVEFROM comes before the EXPUNGE it concerns,
    // in the numbers that held before it.
    await b.cmd("EXPUNGE");
    r = await a.cmd("NOOP");
    const removeAt = r.lines.indexOf(`* ESEARCH (TAG "B01") UID REMOVEFROM (0 4:6,${u1}:${u2})`);
    assert(removeAt >= 0, r.lines.join("\n"));
    assert(removeAt < r.lines.indexOf("* 13 EXPUNGE"), r.lines.join("\n"));
    assertEquals(esearchOf(r.lines, "B02"), []); // 3 and 9 stayed
    // A MOVE elsewhere takes a flagged message out of B02: by its number before the move.
    await b.cmd("UID MOVE 9 Trash");
    r = await a.cmd("NOOP");
    assertEquals(r.lines, ['* ESEARCH (TAG "B02") REMOVEFROM (0 6)', "* 6 EXPUNGE"]);
    // §4.3.5: CANCELUPDATE ends B01; B02 still reports; unknown tags are BAD.
    r = await tagged(a, "B04", 'CANCELUPDATE "B01"');
    assertEquals(r.status, "OK");
    assertEquals((await a.cmd('CANCELUPDATE "B01"')).status, "BAD");
    assertEquals((await a.cmd("CANCELUPDATE")).status, "BAD");
    await b.cmd("STORE 1 +FLAGS (\\Deleted $Junk \\Flagged)");
    r = await a.cmd("NOOP");
    assertEquals(r.lines.filter((l) => l.startsWith("* ESEARCH")), [
      '* ESEARCH (TAG "B02") ADDTO (0 1)',
    ]);
    // A new SELECT ends every context (§4.3: "no longer selected").
    await a.cmd("SELECT INBOX");
    await b.cmd("STORE 2 +FLAGS (\\Flagged)");
    r = await a.cmd("NOOP");
    assertEquals(r.lines.filter((l) => l.startsWith("* ESEARCH")), []);
  });
});

Deno.test("imap CONTEXT=SEARCH: keys that depend on the mailbox as a whole", async () => {
  await withServer(TEN, async (a, b) => {
    // Sequence numbers: after an expunge, the message now 3rd joins "1:3".
    let r = await tagged(a, "V01", "SEARCH RETURN (UPDATE ALL) 1:3");
    assertEquals(r.lines, ['* ESEARCH (TAG "V01") ALL 1:3']);
    // "*" in a UID set: a new message is the new "*".
    r = await tagged(a, "V02", "UID SEARCH RETURN (UPDATE ALL) UID 9:*");
    assertEquals(r.lines, ['* ESEARCH (TAG "V02") UID ALL 9:10']);
    // A keyword nobody has yet: it is created later, by another session.
    r = await tagged(a, "V03", "UID SEARCH RETURN (UPDATE) KEYWORD $Later");
    assertEquals(r.lines, ['* ESEARCH (TAG "V03") UID']);
    await b.cmd("UID MOVE 1 Trash");
    r = await a.cmd("NOOP");
    assertEquals(r.lines, [
      '* ESEARCH (TAG "V01") REMOVEFROM (0 1)',
      "* 1 EXPUNGE",
      '* ESEARCH (TAG "V01") ADDTO (0 3)',
    ]);
    const uid = await append(b, "Subject: later\r\n\r\nx\r\n");
    await b.cmd("UID STORE 5 +FLAGS ($Later)");
    r = await a.cmd("NOOP");
    assertEquals(r.lines.filter((l) => l.startsWith("* ESEARCH")), [
      `* ESEARCH (TAG "V02") UID ADDTO (0 ${uid})`,
      '* ESEARCH (TAG "V03") UID ADDTO (0 5)',
    ]);
  });
});

Deno.test("imap CONTEXT=SORT: positions keep the client's result sorted (§4.3.3, §4.3.4)", async () => {
  await withServer(TEN, async (a, b) => {
    for (const [criteria, tag] of [["SUBJECT", "S1"], ["REVERSE SUBJECT", "S2"]]) {
      const r = await tagged(a, tag, `UID SORT RETURN (UPDATE ALL) (${criteria}) UTF-8 UNDELETED`);
      assertEquals(r.status, "OK");
    }
    let lists = {
      S1: await freshSort(a, "SUBJECT", "UNDELETED"),
      S2: await freshSort(a, "REVERSE SUBJECT", "UNDELETED"),
    };
    const check = async (what: string) => {
      const r = await a.cmd("NOOP");
      lists = {
        S1: esearchOf(r.lines, "S1").reduce(apply, lists.S1),
        S2: esearchOf(r.lines, "S2").reduce(apply, lists.S2),
      };
      assertEquals(lists.S1, await freshSort(a, "SUBJECT", "UNDELETED"), what);
      assertEquals(lists.S2, await freshSort(a, "REVERSE SUBJECT", "UNDELETED"), what);
      return r.lines;
    };
    // New messages land at the front, in the middle (next to equal subjects), at the end.
    for (const s of ["a", "e", "d", "zz", "e"]) await append(b, `Subject: ${s}\r\n\r\nx\r\n`);
    let lines = await check("appends");
    assertMatch(esearchOf(lines, "S1")[0], /^\* ESEARCH \(TAG "S1"\) UID ADDTO \(1 11 /);
    // Flags take messages out of the UNDELETED result (adjacent and apart) and back.
    await b.cmd("UID STORE 3,6,12,14 +FLAGS (\\Deleted)");
    lines = await check("deleted");
    assertMatch(esearchOf(lines, "S1")[0], /REMOVEFROM \(/);
    await b.cmd("UID STORE 6 -FLAGS (\\Deleted)");
    await check("undeleted");
    // A MOVE: the REMOVEFROM names the position, before the EXPUNGE.
    await b.cmd("UID MOVE 5 Trash");
    lines = await check("moved");
    const s1 = lines.findIndex((l) => l.startsWith('* ESEARCH (TAG "S1") UID REMOVEFROM ('));
    assert(s1 >= 0 && s1 < lines.findIndex((l) => /EXPUNGE$/.test(l)), lines.join("\n"));
    // Deleted ones expunged are not in the result: no REMOVEFROM for them.
    await b.cmd("EXPUNGE");
    lines = await check("expunged");
    assertEquals(lines.filter((l) => l.startsWith("* ESEARCH")), []);
  });
});

Deno.test("imap CONTEXT: NOUPDATE past the limit (§4.3.1)", async () => {
  await withServer(TEN, async (a, b) => {
    for (let i = 1; i <= 8; i++) {
      const r = await tagged(a, `C0${i}`, "UID SEARCH RETURN (UPDATE) SEEN");
      assertEquals(r.lines.filter((l) => l.startsWith("* NO")), []);
    }
    // The RFC's example: the search answers as asked, with the untagged NO [NOUPDATE].
    const r = await tagged(a, "B02", "UID SORT RETURN (UPDATE COUNT) (SUBJECT) UTF-8 ALL");
    assertEquals(r.lines[0], '* ESEARCH (TAG "B02") UID COUNT 10');
    assertMatch(r.lines[1], /^\* NO \[NOUPDATE "B02"\] /);
    assertEquals(r.status, "OK");
    // The eight still report; none answers for B02.
    await b.cmd("STORE 1 +FLAGS (\\Seen)");
    const lines = (await a.cmd("NOOP")).lines.filter((l) => l.startsWith("* ESEARCH"));
    assertEquals(lines.length, 8);
    assert(lines.every((l) => / UID ADDTO \(0 1\)$/.test(l)), lines.join("\n"));
    // A cancelled context frees its place.
    await a.cmd('CANCELUPDATE "C01" "C02"');
    const again = await tagged(a, "B03", "UID SEARCH RETURN (UPDATE) SEEN");
    assertEquals(again.lines, ['* ESEARCH (TAG "B03") UID']);
  });
});

Deno.test({
  name: "imap CONTEXT: updates during IDLE and with NOTIFY (RFC 5465 §7)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(["hello"], async (a, b) => {
      // IDLE: EXISTS, then the ADDTO, while the client waits.
      let r = await tagged(a, "I01", "UID SEARCH RETURN (UPDATE) SUBJECT boss");
      assertEquals(r.lines, ['* ESEARCH (TAG "I01") UID']);
      await a.line.send("I02 IDLE");
      assertEquals(await a.line.readLine(), "+ idling");
      const uid = await append(b, "Subject: from the boss\r\n\r\nx\r\n");
      let lines = noRecent(await expectLines(a, /ESEARCH/));
      assertEquals(lines, ["* 2 EXISTS", `* ESEARCH (TAG "I01") UID ADDTO (0 ${uid})`]);
      await a.line.send("DONE");
      assertEquals((await a.result("I02")).status, "OK");
      assertEquals((await a.cmd('CANCELUPDATE "I01"')).status, "OK");
      // NOTIFY: updates come between commands; UPDATE's fetch attributes (RFC 5465 §7)
      // follow NOTIFY's own FETCH, and the ESEARCH comes last.
      r = await a.cmd("NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge FlagChange))");
      assertEquals(r.status, "OK");
      r = await tagged(
        a,
        "N01",
        "SEARCH RETURN (COUNT UPDATE (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])) SUBJECT boss",
      );
      assertEquals(r.lines, ['* ESEARCH (TAG "N01") COUNT 1']);
      const second = await append(b, "Subject: boss again\r\n\r\nx\r\n");
      lines = noRecent(await expectLines(a, /ESEARCH/));
      assertEquals(lines.length, 4, lines.join("\n"));
      assertEquals(lines[0], "* 3 EXISTS");
      assertEquals(lines[1], `* 3 FETCH (UID ${second})`);
      assertMatch(
        lines[2],
        new RegExp(
          `^\\* 3 FETCH \\(UID ${second} BODY\\[HEADER.FIELDS \\(SUBJECT\\)\\] \\{\\d+\\}\nSubject: boss again`,
        ),
      );
      assertEquals(lines[3], '* ESEARCH (TAG "N01") ADDTO (0 3)');
      // A flag change that leaves the result as it is: the FETCH alone.
      await b.cmd(`UID STORE ${second} +FLAGS (\\Flagged)`);
      lines = await expectLines(a, /FETCH/);
      assertEquals(lines.length, 1);
      assertMatch(lines[0], new RegExp(`^\\* 3 FETCH \\(UID ${second} FLAGS \\(\\\\Flagged`));
      // Moved away: REMOVEFROM, then the EXPUNGE.
      await b.cmd(`UID MOVE ${uid} Trash`);
      lines = await expectLines(a, /EXPUNGE/);
      assertEquals(lines, ['* ESEARCH (TAG "N01") REMOVEFROM (0 2)', "* 2 EXPUNGE"]);
      // No further news for a cancelled context.
      await a.cmd('CANCELUPDATE "N01"');
      await append(b, "Subject: boss once more\r\n\r\nx\r\n");
      await expectLines(a, /FETCH/);
      r = await a.cmd("NOOP");
      assertEquals(r.lines.filter((l) => l.startsWith("* ESEARCH")), []);
    });
  },
});
