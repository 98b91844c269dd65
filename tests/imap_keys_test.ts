/**
 * SORT/SEARCH keys without reading files twice: the header block reader (fsutil), keys
 * from a header alone, the store's messageKeys hook (delivery into loaded and unloaded
 * folders, APPEND, MULTIAPPEND, COPY), and the background computation of missing keys
 * after SELECT (sort_index.ts warm: header-only reads, internal dates learnt, EMAILID of
 * big messages on first need, stale rows dropped). Plus the pure RETURN-option parser.
 */
import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { MailStore } from "../src/store/mailstore.ts";
import type { Folder } from "../src/store/folder/folder.ts";
import { readHeaderBlock } from "../src/store/fsutil.ts";
import { fileNameFor, newBaseName } from "../src/store/maildir_names.ts";
import { appendAtomically } from "../src/store/multi_append.ts";
import {
  decodeKeys,
  emailIdOf,
  indexKeysText,
  KEYS_VERSION,
  keysOfMessage,
} from "../src/imap/message_keys.ts";
import { FolderKeys } from "../src/imap/sort_index.ts";
import { Args } from "../src/imap/args.ts";
import type { Token } from "../src/imap/parser.ts";
import { esearchResponse, parseReturnOptions } from "../src/imap/esearch.ts";

const enc = new TextEncoder();

function mail(subject: string, bodyBytes = 20, lf = false): Uint8Array {
  const text =
    `From: Ann <ann@example.org>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@x>\r\n` +
    `Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n${"x".repeat(bodyBytes)}\r\n`;
  return enc.encode(lf ? text.replaceAll("\r\n", "\n") : text);
}

async function withStore(
  fn: (store: MailStore, root: string, base: string) => Promise<void>,
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "extremail-keys-" });
  const store = new MailStore(base, 0, { messageKeys: indexKeysText });
  try {
    const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    await fn(store, root, base);
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("readHeaderBlock: up to the empty line, across reads, capped, no header", async () => {
  const dir = await Deno.makeTempDir();
  const read = async (bytes: Uint8Array, cap = 64 << 10) => {
    const path = join(dir, "m");
    await Deno.writeFile(path, bytes);
    const file = await Deno.open(path);
    try {
      return await readHeaderBlock(file, cap);
    } finally {
      file.close();
    }
  };
  try {
    const crlf = mail("one");
    let r = await read(crlf);
    equal(new TextDecoder().decode(r.bytes).endsWith("+0000\r\n\r\n"), true);
    equal(r.whole, false);
    r = await read(mail("two", 20, true));
    ok(new TextDecoder().decode(r.bytes).endsWith("+0000\n\n"));
    // The header's last line end or the empty line straddling the first 16 KiB read
    // (the header is 21 bytes plus the padding), and an empty line well past it.
    for (const pad of [16361, 16362, 16363, 16364, 40_000]) {
      const head = `Subject: s\r\nX-Pad: ${"p".repeat(pad)}\r\n`;
      const bytes = enc.encode(head + "\r\nbody\r\n");
      r = await read(bytes);
      equal(r.bytes.length, enc.encode(head).length + 2, `pad ${pad}`);
    }
    // No empty line: the whole file; a message that starts with it: an empty header.
    r = await read(enc.encode("Subject: only a header\r\n"));
    deepStrictEqual([r.bytes.length, r.whole], [24, true]);
    r = await read(enc.encode("\r\nbody\r\n"));
    equal(r.bytes.length, 2);
    // A header longer than the cap: the cap.
    r = await read(enc.encode(`X: ${"y".repeat(100_000)}\r\n\r\nb`), 64 << 10);
    deepStrictEqual([r.bytes.length, r.whole], [64 << 10, false]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys from the header alone equal the whole message's, but for the EMAILID", () => {
  const whole = mail("Re: [list] report", 5000);
  const end = whole.indexOf(13, 0);
  ok(end > 0);
  const header = whole.subarray(0, new TextDecoder().decode(whole).indexOf("\r\n\r\n") + 4);
  const a = keysOfMessage(whole, true), b = keysOfMessage(header, false);
  equal(a.emailId, emailIdOf(whole));
  equal(b.emailId, null);
  deepStrictEqual({ ...b, emailId: a.emailId }, a);
  equal(a.subject, "REPORT");
  // The stored form keeps an unknown EMAILID.
  deepStrictEqual(decodeKeys(indexKeysText(header, false)), b);
});

Deno.test("store hook: delivery, APPEND, MULTIAPPEND and COPY store the keys", async () => {
  await withStore(async (store, root, base) => {
    // Delivery into a folder nobody has loaded: the keys reach its index in a batch.
    const first = mail("unloaded");
    const [s1] = await store.deliver([{ root }], first);
    await store.close(); // flushes the batch
    const reopened = new MailStore(base, 0);
    let inbox = (await reopened.openFolder(root, "INBOX"))!;
    equal(inbox.keysGet(s1.base), indexKeysText(first, true));
    await reopened.close();
    // Into a loaded folder: with the entry, in the same index transaction.
    inbox = (await store.openFolder(root, "INBOX"))!;
    const second = mail("loaded");
    const [s2] = await store.deliver([{ root }], second);
    ok(s2.uid);
    equal(inbox.keysGet(s2.base), indexKeysText(second, true));
    const { uid } = await store.append(root, "INBOX", mail("appended"));
    equal(decodeKeys(inbox.keysGet(inbox.messages.get(uid)!.base)!)?.subject, "APPENDED");
    const multi = await appendAtomically(store, root, "INBOX", [
      { data: mail("multi one"), flags: "" },
      { data: mail("multi two"), flags: "S" },
    ]);
    const subjects = multi.uids.map((u) =>
      decodeKeys(inbox.keysGet(inbox.messages.get(u)!.base)!)?.subject
    );
    deepStrictEqual(subjects, ["MULTI ONE", "MULTI TWO"]);
    // COPY: the copy (a new base name) carries the source's keys.
    const { pairs } = await store.copyMessages(inbox, [s2.uid!], root, "Archive");
    const archive = (await store.openFolder(root, "Archive"))!;
    const copy = archive.messages.get(pairs[0][1])!;
    ok(copy.base !== s2.base);
    equal(archive.keysGet(copy.base), indexKeysText(second, true));
  });
});

/** Writes messages straight into cur/, as other software would (no keys, no date known). */
async function dropIn(root: string, messages: Uint8Array[]): Promise<void> {
  for (const data of messages) {
    const base = newBaseName(data.length);
    await Deno.writeFile(join(root, "tmp", base), data);
    const when = new Date(Date.UTC(2023, 4, 6));
    await Deno.utime(join(root, "tmp", base), when, when);
    await Deno.rename(join(root, "tmp", base), join(root, "cur", fileNameFor(base, "S")));
  }
}

Deno.test("warm: missing keys from the header, dates learnt, EMAILID on demand", async () => {
  await withStore(async (store, root, base) => {
    const small = mail("small one"), big = mail("big one", 100_000);
    await dropIn(root, [small, big]);
    let folder: Folder = (await store.openFolder(root, "INBOX"))!;
    const [e1, e2] = [...folder.messages.values()];
    equal(e1.internalDate, null);
    const keys = new FolderKeys(folder);
    await keys.warm();
    for (const e of [e1, e2]) {
      ok(folder.keysGet(e.base), "stored");
      equal(e.internalDate, Date.UTC(2023, 4, 6));
    }
    // A warm-up keeps no keys in memory (the index has them) until a load() asks.
    equal(keys.peek(e1), undefined);
    equal((await keys.get(e1)).emailId, emailIdOf(small)); // read whole: small
    equal((await keys.get(e2)).emailId, null); // only its header was read
    equal((await keys.get(e2)).subject, "BIG ONE");
    equal(await keys.emailId(e2), emailIdOf(big));
    equal(decodeKeys(folder.keysGet(e2.base)!)?.emailId, emailIdOf(big));
    // A stored row whose message is gone is dropped by the next warm-up.
    folder.keysPut("1.gone.host", indexKeysText(small, true));
    await store.close();
    const again = new MailStore(base, 0);
    try {
      folder = (await again.openFolder(root, "INBOX"))!;
      ok(folder.keysGet("1.gone.host"));
      const fresh = new FolderKeys(folder);
      await fresh.warm();
      equal(folder.keysGet("1.gone.host"), undefined);
      equal((await fresh.get(folder.messages.get(e1.uid)!)).subject, "SMALL ONE");
    } finally {
      await again.close();
    }
  });
});

Deno.test("warm: many files through the reader worker, a waiting command shares its reads", async () => {
  await withStore(async (store, root) => {
    const n = 450;
    await dropIn(root, [
      ...Array.from({ length: n - 1 }, (_, i) => mail(`m${i}`, 100 + i)),
      mail("the big one", 70_000),
    ]);
    const folder = (await store.openFolder(root, "INBOX"))!;
    const entries = [...folder.messages.values()];
    const keys = new FolderKeys(folder);
    // Count file reads made on this thread: the worker's do not show here.
    const orig = Deno.readFile;
    let readsHere = 0;
    Deno.readFile = (path, opts) => {
      readsHere++;
      return orig(path, opts);
    };
    try {
      const warming = keys.warm();
      // A command asking for the last message meanwhile waits for its batch.
      const last = await keys.get(entries[n - 1]);
      equal(last.subject, "THE BIG ONE");
      await warming;
    } finally {
      Deno.readFile = orig;
    }
    equal(readsHere, 0);
    await keys.load(); // every stored key in memory, as SORT wants them
    for (const [i, e] of entries.entries()) {
      equal(keys.peek(e)?.subject, i < n - 1 ? `M${i}` : "THE BIG ONE");
      ok(folder.keysGet(e.base));
      equal(e.internalDate, Date.UTC(2023, 4, 6));
    }
    // The worker reads header blocks only: the EMAILID comes when first asked for.
    equal(keys.peek(entries[0])?.emailId, null);
    equal(await keys.emailId(entries[0]), emailIdOf(mail("m0", 100)));
  });
});

Deno.test("subject column: read from the stored keys, kept in the index across a restart", async () => {
  await withStore(async (store, root, base) => {
    await dropIn(root, [mail("alpha one"), mail("beta two")]);
    let folder: Folder = (await store.openFolder(root, "INBOX"))!;
    const keys = new FolderKeys(folder);
    await keys.warm();
    const [u1, u2] = [...folder.messages.keys()];
    let column = keys.subjects()!;
    deepStrictEqual([...column.uids], [u1, u2]);
    deepStrictEqual([...column.matches("alpha")!], [1, 0]);
    // A message stored afterwards is not in it (a search asks it by itself).
    const { uid: u3 } = await store.append(root, "INBOX", mail("alpha three"));
    equal(keys.subjects()!.positionOf(u3, 0), -1);
    equal((await keys.get(folder.messages.get(u3)!)).subject, "ALPHA THREE");
    await store.close();
    // After a restart the column comes from its blob: the keys are not joined again.
    const again = new MailStore(base, 0);
    try {
      folder = (await again.openFolder(root, "INBOX"))!;
      let joined = 0;
      const keysField = folder.keysField.bind(folder);
      folder.keysField = (prefix, path, after, limit) => {
        joined++;
        return keysField(prefix, path, after, limit);
      };
      const fresh = new FolderKeys(folder);
      column = fresh.subjects()!;
      equal(joined, 0);
      deepStrictEqual([...column.uids], [u1, u2]);
      deepStrictEqual([...column.matches("two")!], [0, 1]);
      // The warm-up found every key stored and recorded it: a restart looks above that only.
      ok(folder.keysDoneBelow(KEYS_VERSION) > u2);
    } finally {
      await again.close();
    }
  });
});

const atom = (value: string): Token => ({ kind: "atom", value });
const list = (...items: Token[]): Token => ({ kind: "list", items });

Deno.test("RETURN options: PARTIAL, UPDATE with fetch attributes, ESEARCH data", () => {
  const parse = (cmd: "SEARCH" | "SORT", ...items: Token[]) =>
    parseReturnOptions(new Args([atom("RETURN"), list(...items)]), cmd)!;
  let o = parse("SEARCH", atom("PARTIAL"), atom("10:3"), atom("COUNT"));
  deepStrictEqual(o.partial, { from: 3, to: 10 });
  equal(o.all, false);
  equal(parse("SEARCH").all, true); // RETURN () means ALL
  equal(parse("SEARCH", atom("UPDATE")).all, false); // UPDATE alone asks for no data
  o = parse("SORT", atom("UPDATE"), list(atom("UID"), atom("FLAGS")), atom("CONTEXT"));
  deepStrictEqual(o.updateFetch?.map((i) => i.kind), ["UID", "FLAGS"]);
  throws(() => parse("SEARCH", atom("PARTIAL"), atom("1:2"), atom("ALL")));
  throws(() => parse("SEARCH", atom("PARTIAL"), atom("*:2")));
  throws(() => parse("SORT", atom("SAVE")));
  equal(
    esearchResponse(
      "t",
      true,
      parse("SORT", atom("PARTIAL"), atom("2:3")),
      [9, 4, 5, 1],
      null,
    ),
    '* ESEARCH (TAG "t") UID PARTIAL (2:3 4:5)\r\n',
  );
  equal(
    esearchResponse("t", false, parse("SEARCH", atom("PARTIAL"), atom("5:6")), [1, 2], 7),
    '* ESEARCH (TAG "t") PARTIAL (5:6 NIL) MODSEQ 7\r\n',
  );
});
