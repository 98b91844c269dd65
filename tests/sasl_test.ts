/**
 * The shared SASL pieces (src/sasl/): strict base64 (RFC 4648), client responses ("*",
 * "="), PLAIN (RFC 4616) and LOGIN, as SMTP, POP3 and IMAP use them; with a fuzz against
 * node's encoder as the reference.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeBase64Strict, encodeBase64 } from "../src/sasl/base64.ts";
import {
  decodeLoginText,
  LOGIN_PASSWORD_PROMPT,
  LOGIN_USERNAME_PROMPT,
} from "../src/sasl/login.ts";
import { authorizesSelf, decodePlain, encodePlain } from "../src/sasl/plain.ts";
import { decodeResponse } from "../src/sasl/response.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

Deno.test("base64: canonical RFC 4648 §4 only", () => {
  deepStrictEqual(decodeBase64Strict("QUJD"), bytes("ABC"));
  deepStrictEqual(decodeBase64Strict("QUI="), bytes("AB"));
  deepStrictEqual(decodeBase64Strict("QQ=="), bytes("A"));
  deepStrictEqual(decodeBase64Strict(""), new Uint8Array(0));
  deepStrictEqual(decodeBase64Strict("+/+/"), new Uint8Array([0xfb, 0xff, 0xbf]));
  for (
    const bad of [
      "QQ", // padding missing (§3.2)
      "QQ=", // padding short
      "QUJ", // a length that is no multiple of 4
      "QR==", // non-zero pad bits: "A" is only ever "QQ==" (§3.5)
      "QUJ=", // the same with one pad character
      "A===", // three pad characters cannot occur
      "====",
      "QQ==QQ==", // padding inside the data
      "QU JD", // white space (§3.3)
      "QU\r\nJD",
      "-_-_", // base64url's alphabet (§5) is not base64's
      "QUJD\u00e9AAA", // outside the alphabet
      "QUJD\u0000AAA",
    ]
  ) {
    equal(decodeBase64Strict(bad), null, JSON.stringify(bad));
  }
});

Deno.test("base64: encoding, and the round trip on random bytes (fuzz)", () => {
  equal(encodeBase64("\u0000u\u0000p\u00e4"), "AHUAcMOk");
  equal(encodeBase64(new Uint8Array([1, 2, 3, 4]).subarray(1, 3)), "AgM=", "a view encodes itself");
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 2000; i++) {
    const data = new Uint8Array(rnd(40));
    for (let j = 0; j < data.length; j++) data[j] = rnd(256);
    const text = encodeBase64(data);
    equal(text, Buffer.from(data).toString("base64"));
    deepStrictEqual(decodeBase64Strict(text), data);
    // Any one character changed to another gives other bytes or no bytes, never the same.
    if (text.length > 0) {
      const at = rnd(text.length);
      const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=- ";
      const swapped = text.slice(0, at) + chars[rnd(chars.length)] + text.slice(at + 1);
      const back = decodeBase64Strict(swapped);
      if (swapped !== text) ok(back === null || encodeBase64(back) === swapped, swapped);
    }
  }
});

Deno.test("responses: cancel, the empty initial response, malformed", () => {
  deepStrictEqual(decodeResponse("*"), { kind: "cancel" });
  deepStrictEqual(decodeResponse(" * "), { kind: "cancel" });
  deepStrictEqual(decodeResponse("="), { kind: "data", bytes: new Uint8Array(0) });
  deepStrictEqual(decodeResponse("AGEAYg=="), { kind: "data", bytes: bytes("\0a\0b") });
  deepStrictEqual(decodeResponse("AGEAYg==  "), { kind: "data", bytes: bytes("\0a\0b") });
  deepStrictEqual(decodeResponse("AGEAYg"), { kind: "malformed" });
  deepStrictEqual(decodeResponse("=="), { kind: "malformed" });
  deepStrictEqual(decodeResponse("**"), { kind: "malformed" });
});

Deno.test("PLAIN: authzid, authcid, passwd (RFC 4616 §2)", () => {
  deepStrictEqual(decodePlain(bytes("\0user@ex.test\0pass word")), {
    ok: true,
    credentials: { authzid: "", authcid: "user@ex.test", password: "pass word" },
  });
  deepStrictEqual(decodePlain(bytes("boss@ex.test\0a@ex.test\0pw")), {
    ok: true,
    credentials: { authzid: "boss@ex.test", authcid: "a@ex.test", password: "pw" },
  });
  const utf = decodePlain(new Uint8Array([0, 0x75, 0, 0xc3, 0xa9]));
  ok(utf.ok && utf.credentials.password === "\u00e9");
  for (
    const bad of [
      "", // the empty response ("=")
      "nouser",
      "one\0nul",
      "\0\0pw", // empty authcid
      "\0u\0", // empty passwd
      "a\0b\0c\0d", // a NUL inside the password
      "\0u\0p\0",
    ]
  ) {
    equal(decodePlain(bytes(bad)).ok, false, JSON.stringify(bad));
  }
  const notUtf8 = decodePlain(new Uint8Array([0, 0x75, 0, 0xff]));
  ok(!notUtf8.ok && /UTF-8/.test(notUtf8.reason));
  // The client's encoder is the decoder's inverse.
  const back = decodeResponse(encodePlain("relay-user", "s3cret p\u00e4ss"));
  ok(back.kind === "data");
  deepStrictEqual(decodePlain(back.bytes), {
    ok: true,
    credentials: { authzid: "", authcid: "relay-user", password: "s3cret p\u00e4ss" },
  });
});

Deno.test("PLAIN: an authzid must name the authenticated account itself", () => {
  const accounts: Record<string, { name: string; domain: string }> = {
    "bob@ex.test": { name: "bob", domain: "ex.test" },
    "bobby": { name: "bob", domain: "ex.test" }, // a MAP login name
    "alice@ex.test": { name: "alice", domain: "ex.test" },
  };
  const accountOf = (login: string) => accounts[login.toLowerCase()];
  const bob = accounts["bob@ex.test"];
  ok(authorizesSelf("", bob, accountOf), "no authzid: act as oneself");
  ok(authorizesSelf("bob@ex.test", bob, accountOf));
  ok(authorizesSelf("BOB@ex.test", bob, accountOf));
  ok(authorizesSelf("bobby", bob, accountOf), "another login name of the same account");
  ok(!authorizesSelf("alice@ex.test", bob, accountOf), "no proxy authorization");
  ok(!authorizesSelf("nobody@ex.test", bob, accountOf));
});

Deno.test("LOGIN: prompts and UTF-8 answers", () => {
  equal(LOGIN_USERNAME_PROMPT, "VXNlcm5hbWU6");
  equal(LOGIN_PASSWORD_PROMPT, "UGFzc3dvcmQ6");
  equal(decodeLoginText(bytes("p\u00e4ss")), "p\u00e4ss");
  equal(decodeLoginText(new Uint8Array([0x61, 0xc3])), null);
});

Deno.test("fuzz: the decoders return a result for any input, never throw", () => {
  let seed = 99;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const alphabet = "AQZaz09+/=*- \0\u00e9\r\n";
  for (let i = 0; i < 3000; i++) {
    let text = "";
    for (let j = rnd(24); j > 0; j--) text += alphabet[rnd(alphabet.length)];
    const r = decodeResponse(text);
    ok(["cancel", "data", "malformed"].includes(r.kind));
    if (r.kind === "data") {
      const p = decodePlain(r.bytes);
      ok(p.ok || p.reason.length > 0);
      decodeLoginText(r.bytes);
    }
  }
});
