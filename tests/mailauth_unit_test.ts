/**
 * src/mailauth pieces on their own: the key store (newest signs, files 0600, reload),
 * selectors, relaxed header canonicalization, SRS round trips, and a message that cannot
 * be signed going out unsigned instead of waiting in the queue.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./helpers/assert.ts";
import { devDefaults } from "../src/config/load.ts";
import { Resolver } from "../src/dns/resolver.ts";
import { DkimKeyError, dnsRecord, FileKeyStore } from "../src/mailauth/keys.ts";
import { MailAuth } from "../src/mailauth/service.ts";
import { relaxedField } from "../src/mailauth/sign.ts";
import { Srs } from "../src/mailauth/srs.ts";

const enc = new TextEncoder();

Deno.test("keys: newest signs, 0600 files, reload, delete, selector syntax", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const warn: string[] = [];
    const store = await FileKeyStore.open(dir, (t) => warn.push(t));
    const old = await store.add("example.test", "old", "ed25519", 1000);
    const neu = await store.add("example.test", "new", "rsa", 2000);
    assertEquals(store.active("example.test")?.selector, "new");
    assertEquals(store.list("example.test").map((k) => k.selector), ["new", "old"]);
    assertEquals(
      (await Deno.stat(join(dir, "dkim", "example.test", "new.json"))).mode! & 0o777,
      0o600,
    );
    assertEquals((await Deno.stat(join(dir, "dkim"))).mode! & 0o777, 0o700);
    assertMatch(dnsRecord(old).value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    assertMatch(dnsRecord(neu).value, /^v=DKIM1; k=rsa; p=MIIB/);
    await assertRejects(() => store.add("example.test", "new", "rsa"), DkimKeyError, "already");
    await assertRejects(
      () => store.add("example.test", "bad_sel", "rsa"),
      DkimKeyError,
      "SELECTOR",
    );
    await Deno.writeTextFile(join(dir, "dkim", "example.test", "broken.json"), "{");
    const again = await FileKeyStore.open(dir, (t) => warn.push(t));
    assertEquals(again.active("example.test")?.privateKey, neu.privateKey);
    assertEquals(warn.length, 1, "the unreadable file is reported, not used");
    assert(await again.remove("example.test", "NEW"));
    assertEquals(again.active("example.test")?.selector, "old");
    assert(!(await again.remove("example.test", "new")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sign: relaxed header canonicalization (RFC 6376 §3.4.2)", () => {
  assertEquals(relaxedField("SubJect :  A \t b\r\n  c  "), "subject:A b c");
  assertEquals(relaxedField("To:x"), "to:x");
});

Deno.test("srs: round trip, case-folded, tampered, not SRS", () => {
  const srs = new Srs(enc.encode("secret"));
  const a = srs.forward("Alice@Sender.example", "fwd.example", 86400_000 * 20000);
  assertMatch(a, /^SRS0=[^=]{4}=[A-Z2-7]{2}=Sender\.example=Alice@fwd\.example$/);
  const local = a.slice(0, a.lastIndexOf("@"));
  assertEquals(srs.reverse(local, 86400_000 * 20000), {
    kind: "original",
    address: "Alice@Sender.example",
  });
  assertEquals(srs.reverse(local.toUpperCase(), 86400_000 * 20005).kind, "original");
  assertEquals(srs.reverse(local.replace("Alice", "Eve"), 86400_000 * 20000).kind, "invalid");
  assertEquals(srs.reverse(local, 86400_000 * 20022).kind, "invalid", "older than 21 days");
  assertEquals(srs.reverse("alice"), { kind: "not-srs" });
});

Deno.test("signature: a message without From goes out unsigned; DKIMSign=false signs nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let config = { ...devDefaults(), DirBase: dir };
    const auth = await MailAuth.open(dir, {
      config: () => config,
      resolver: new Resolver({ servers: () => ["127.0.0.1:9"] }),
      isLocalDomain: (d) => d === "example.test",
    }, () => {});
    await auth.keys.add("example.test", "s1", "ed25519");
    assertEquals(
      await auth.signature(enc.encode("Subject: x\r\n\r\nbody\r\n"), "example.test"),
      "",
    );
    const msg = enc.encode("From: a@example.test\r\n\r\nbody\r\n");
    assertMatch(await auth.signature(msg, "example.test"), /^DKIM-Signature: /);
    config = { ...config, DKIMSign: false };
    assertEquals(await auth.signature(msg, "example.test"), "");
    assertEquals(auth.srsSender("a@remote.example", "example.test").startsWith("SRS0="), true);
    assertEquals(auth.srsSender("a@example.test", "example.test"), "a@example.test");
    assertEquals(auth.srsSender("", "example.test"), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
