/**
 * The IMAP side of SPEC §7 in process: the message cache stays under its byte bound, and
 * the sections of a large message served from its file (fetch_large.ts) are the octets
 * the whole-message path gives.
 */
import { join } from "node:path";
import { parseFetchAtt } from "../src/imap/fetch_items.ts";
import { largeSection } from "../src/imap/fetch_large.ts";
import {
  clearMessageCache,
  messageCacheUsage,
  MessageData,
  setMessageCacheBytes,
} from "../src/imap/msgcache.ts";
import { envelope } from "../src/imap/mime/envelope.ts";
import { parseMessage } from "../src/message/mime.ts";
import { partial, sectionBytes } from "../src/message/section.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

const enc = new TextEncoder();

async function inbox(messages: Uint8Array[]) {
  const dir = await Deno.makeTempDir({ prefix: "extremail-msgcache-" });
  const store = new MailStore(dir, 0);
  const root = join(dir, "box");
  await store.ensureMailbox(root);
  for (const m of messages) await store.append(root, "INBOX", m);
  const folder = (await store.openFolder(root, "INBOX"))!;
  return {
    folder,
    entries: [...folder.messages.values()],
    async close() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("message cache: bounded in bytes, oldest entries dropped", async () => {
  const to = Array.from({ length: 100 }, (_, i) => `Person ${i} <p${i}@example.com>`).join(", ");
  const messages = Array.from(
    { length: 60 },
    (_, i) => enc.encode(`Subject: m${i}\r\nTo: ${to}\r\n\r\nbody ${i}\r\n`),
  );
  const box = await inbox(messages);
  clearMessageCache();
  const previous = setMessageCacheBytes(200_000);
  try {
    for (const e of box.entries) await new MessageData(box.folder, e).envelope(false);
    const usage = messageCacheUsage();
    // Each entry holds its header (~4 KB) and an ENVELOPE of ~10 KB as UTF-16.
    assert(usage.bytes <= 200_000 + 40_000, `cache holds ${usage.bytes} bytes`);
    assert(usage.entries < 60 && usage.entries > 3, `${usage.entries} entries kept`);
    // Dropped entries come back from the folder's index, unchanged.
    const again = await new MessageData(box.folder, box.entries[0]).envelope(false);
    assert(again.includes('"m0"'));
  } finally {
    setMessageCacheBytes(previous);
    clearMessageCache();
    await box.close();
  }
});

Deno.test("message cache: lookups by UID follow the cache and its eviction", async () => {
  const messages = Array.from(
    { length: 40 },
    (_, i) => enc.encode(`Subject: u${i}\r\n\r\n${"x".repeat(2000)} ${i}\r\n`),
  );
  const box = await inbox(messages);
  clearMessageCache();
  const previous = setMessageCacheBytes(1 << 30);
  try {
    for (const e of box.entries) await new MessageData(box.folder, e).envelope(false);
    // A second look finds each message by its UID: same answers as by base name.
    for (const [i, e] of box.entries.entries()) {
      const d = new MessageData(box.folder, e);
      assert(d.servedAsStored, `message ${i} served as stored`);
      assert(d.envelopeNow(false)?.includes(`"u${i}"`), `message ${i}: its own envelope`);
    }
    assertEquals(messageCacheUsage().indexed, 40);
    // Entries the byte bound drops are let go by the UID index too (memory stays bounded).
    setMessageCacheBytes(4_000);
    const usage = messageCacheUsage();
    assert(usage.entries < 40, `${usage.entries} entries kept`);
    assert(usage.indexed <= usage.entries, `${usage.indexed} indexed, ${usage.entries} cached`);
    // What was dropped comes back from the folder's index, found by base name again.
    const again = new MessageData(box.folder, box.entries[0]);
    assert(again.envelopeNow(false)?.includes('"u0"'));
    clearMessageCache();
    assertEquals(messageCacheUsage().indexed, 0);
  } finally {
    setMessageCacheBytes(previous);
    clearMessageCache();
    await box.close();
  }
});

Deno.test("large messages: sections from the file are the whole-message sections", async () => {
  const filler = "x".repeat(76) + "\r\n";
  const text = `Subject: parts\r\nFrom: <a@example.net>\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/mixed; boundary="b"\r\n\r\npreamble\r\n--b\r\n` +
    `Content-Type: text/plain\r\n\r\n${filler.repeat(4000)}\r\n--b\r\n` +
    `Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n`;
  const bytes = enc.encode(text);
  const box = await inbox([bytes]);
  clearMessageCache();
  try {
    const structure = parseMessage(bytes);
    const d = new MessageData(box.folder, box.entries[0]);
    assert(d.large, "over the streaming threshold");
    assertEquals(
      await d.envelope(false),
      envelope(bytes, structure),
      "ENVELOPE from the header alone",
    );
    for (
      const att of [
        "BODY[]",
        "BODY.PEEK[TEXT]",
        "BODY[1]",
        "BODY[1]<100.50>",
        "BODY[2.MIME]",
        "BODY[2.HEADER]",
        "BODY[2.TEXT]",
        "BODY[HEADER]",
        "BODY[HEADER.FIELDS (SUBJECT FROM)]",
        "BODY[HEADER.FIELDS.NOT (SUBJECT)]",
        "BODY[]<300000.20>",
        "BODY[]<99999999.20>",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "RFC822",
      ]
    ) {
      const item = parseFetchAtt(att);
      const served = await largeSection(new MessageData(box.folder, box.entries[0]), item);
      assert(served, `${att} is served from the file`);
      let got: Uint8Array;
      if ("bytes" in served) got = served.bytes;
      else {
        const path = box.folder.filePath(box.entries[0]);
        got = (await Deno.readFile(path)).subarray(served.start, served.end);
      }
      let expected: Uint8Array;
      if (item.kind === "SECTION") {
        const whole = sectionBytes(bytes, structure, item.section);
        expected = item.offset === undefined ? whole : partial(whole, item.offset, item.length);
      } else {
        const textOf = item.kind === "RFC822.HEADER"
          ? "HEADER"
          : item.kind === "RFC822.TEXT"
          ? "TEXT"
          : "";
        expected = sectionBytes(bytes, structure, { part: [], text: textOf });
      }
      assertEquals(got, expected, att);
    }
  } finally {
    clearMessageCache();
    await box.close();
  }
});
