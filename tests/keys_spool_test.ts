/**
 * The keys spool (src/store/keys_spool.ts): keys of messages delivered into folders not
 * loaded reach the folder index through the spool's worker thread, computed there from
 * the message's bytes when the store names the hook's module (as the daemon does), and
 * handed to a folder loaded before the batch is written.
 */
import { equal } from "node:assert/strict";
import { MailStore } from "../src/store/mailstore.ts";
import { indexKeysText } from "../src/imap/message_keys.ts";
import { MessageContent } from "../src/store/content.ts";

const enc = new TextEncoder();
const KEYS_MODULE = new URL("../src/imap/store_keys.ts", import.meta.url).href;

function mail(subject: string): Uint8Array {
  return enc.encode(
    `From: Ann <ann@example.org>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@x>\r\n` +
      `Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nbody of ${subject}\r\n`,
  );
}

async function withBase(fn: (base: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "extremail-keys-spool-" });
  try {
    await fn(base);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("keys spool: the worker computes and writes the keys of unloaded folders", async () => {
  await withBase(async (base) => {
    const store = new MailStore(base, 0, {
      messageKeys: indexKeysText,
      messageKeysModule: KEYS_MODULE,
    });
    const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    const whole = mail("whole");
    const [a] = await store.deliver([{ root }], whole);
    // Content in pieces (a spooled message): only its header is in memory.
    const spooled = mail("spooled");
    const headerEnd = new TextDecoder().decode(spooled).indexOf("\r\n\r\n") + 4;
    const header = spooled.subarray(0, headerEnd);
    const content = new MessageContent([header, spooled.subarray(headerEnd)], null, header);
    const [b] = await store.deliver([{ root }, { root, folder: "Archive" }], content);
    await store.close(); // waits for the worker's batches
    const reopened = new MailStore(base, 0);
    try {
      const inbox = (await reopened.openFolder(root, "INBOX"))!;
      equal(inbox.keysGet(a.base), indexKeysText(whole, true));
      equal(inbox.keysGet(b.base), indexKeysText(header, false));
      const archive = (await reopened.openFolder(root, "Archive"))!;
      equal(archive.keysGet(b.base), indexKeysText(header, false));
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("keys spool: a folder loaded before the batch takes the keys itself", async () => {
  await withBase(async (base) => {
    const store = new MailStore(base, 0, {
      messageKeys: indexKeysText,
      messageKeysModule: KEYS_MODULE,
    });
    try {
      const root = store.userRoot({ name: "bob", domain: "example.com", dir: "" });
      await store.ensureMailbox(root);
      const m = mail("late");
      const [s] = await store.deliver([{ root }], m);
      // Loaded after the delivery and before the batch: the flush hands it the keys.
      const inbox = (await store.openFolder(root, "INBOX"))!;
      store.retain(inbox);
      // The batch is written a few seconds after the delivery (generous bound).
      for (let i = 0; i < 400 && inbox.keysGet(s.base) === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      equal(inbox.keysGet(s.base), indexKeysText(m, true));
    } finally {
      await store.close();
    }
  });
});
