/** Unit tests of the admin protocol's pure parts: line grammar, values, replies, lock-out. */
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { commandLine } from "../src/admin/client.ts";
import { findCommand, help, unknownCommand } from "../src/admin/commands/table.ts";
import { LoginGuard } from "../src/admin/lockout.ts";
import {
  AdminSyntaxError,
  parseLine,
  quoteValue,
  redactForLog,
  splitVerb,
} from "../src/admin/parse.ts";
import { escapeDataLine, formatReply, unescapeDataLine } from "../src/admin/reply.ts";
import { AdminError } from "../src/admin/reply.ts";
import { parseAddressList, parseSize, parseSwitch } from "../src/admin/values.ts";

const params = (text: string) => Object.fromEntries(parseLine(text).params);

Deno.test("parseLine: verbs upper-cased, keys case-insensitive, values as written", () => {
  const p = parseLine("user add name=Alice Domain=Example.COM quota=10M");
  deepStrictEqual(p.words, ["USER", "ADD"]);
  deepStrictEqual(Object.fromEntries(p.params), {
    NAME: "Alice",
    DOMAIN: "Example.COM",
    QUOTA: "10M",
  });
});

Deno.test('parseLine: quoted values with \\" and \\\\ escapes, tabs and spaces', () => {
  deepStrictEqual(params('USER MOD AUTOREPLYSUBJECT="On \\"leave\\" C:\\\\x"'), {
    AUTOREPLYSUBJECT: 'On "leave" C:\\x',
  });
  deepStrictEqual(params('X\tA="a  b"\t B=""  C=  D=x=y'), { A: "a  b", B: "", C: "", D: "x=y" });
  deepStrictEqual(parseLine("  dns   cache  show all  ").words, ["DNS", "CACHE", "SHOW", "ALL"]);
});

Deno.test("parseLine: malformed input is refused with the reason", () => {
  const cases: [string, RegExp][] = [
    ['USER MOD NAME="abc', /unterminated quoted value of NAME/],
    ["USER ADD =x", /parameter without a name/],
    ["USER ADD 1A=x", /malformed parameter name "1A"/],
    ['USER ADD NAME=a"b"', /quote in the middle of the value of NAME/],
    ['USER ADD NAME="a"b', /text after the closing quote of NAME/],
    ['USER ADD NAME="a\\nb"', /unknown escape "\\n"/],
    ["USER ADD NAME=a name=b", /parameter NAME given twice/],
    ["USER NAME=a ADD", /word "ADD" after the parameters/],
    ['USER "ADD"', /quoted text must be the value of a parameter/],
    ["USER A\x00B", /control character 0x00/],
    ["USER\rADD", /control character 0x0D/],
  ];
  for (const [line] of cases) throws(() => parseLine(line), AdminSyntaxError, line);
  for (const [line, reason] of cases) {
    throws(() => parseLine(line), (e: Error) => reason.test(e.message), line);
  }
});

Deno.test("splitVerb keeps the rest of the line as typed (LOGIN passwords)", () => {
  deepStrictEqual(splitVerb('login pa ss="x'), { verb: "LOGIN", rest: 'pa ss="x' });
  deepStrictEqual(splitVerb("QUIT"), { verb: "QUIT", rest: "" });
  deepStrictEqual(splitVerb(""), { verb: "", rest: "" });
});

Deno.test("quoteValue round-trips through parseLine", () => {
  for (const v of ["plain", "with space", 'q"uote', "back\\slash", "", "a=b", "ünï cödé"]) {
    deepStrictEqual(params(`X K=${quoteValue(v)}`), { K: v }, v);
  }
});

Deno.test("redactForLog hides passwords, keeps the rest", () => {
  equal(redactForLog("LOGIN my secret"), "LOGIN ***");
  equal(redactForLog("login secret"), "LOGIN ***");
  equal(redactForLog("PASSWORD OLD=a NEW=b"), "PASSWORD ***");
  equal(
    redactForLog('USER ADD NAME=a DOMAIN=b pass="x y \\" z" QUOTA=1'),
    "USER ADD NAME=a DOMAIN=b pass=*** QUOTA=1",
  );
  equal(redactForLog('USER MOD NAME=a PASS="unterminated secret'), "USER MOD NAME=a PASS=***");
});

Deno.test("sizes: bytes or K/M/G with K = 1024", () => {
  equal(parseSize("QUOTA", "0"), 0);
  equal(parseSize("QUOTA", "1234"), 1234);
  equal(parseSize("QUOTA", "512k"), 512 * 1024);
  equal(parseSize("QUOTA", "10M"), 10 * 1024 * 1024);
  equal(parseSize("QUOTA", "2G"), 2 * 1024 ** 3);
  equal(parseSize("QUOTA", "5MB"), 5 * 1024 * 1024);
  for (const bad of ["", "-1", "1.5M", "10T", "abc", "M", "99999999999999999G"]) {
    throws(() => parseSize("QUOTA", bad), AdminError, bad);
  }
});

Deno.test("switches and address lists", () => {
  equal(parseSwitch("KEEP", "yes", "YES|NO"), true);
  equal(parseSwitch("AUTOREPLY", "Off", "ON|OFF"), false);
  throws(() => parseSwitch("KEEP", "maybe", "YES|NO"), /KEEP=maybe: expected YES\|NO/);
  deepStrictEqual(parseAddressList("FORWARD", "a@b.c, d@e.f"), ["a@b.c", "d@e.f"]);
  deepStrictEqual(parseAddressList("FORWARD", "none"), []);
  throws(() => parseAddressList("FORWARD", "a@b.c,,d@e.f"), /empty address/);
});

Deno.test("data lines beginning with + or - get one leading space", () => {
  equal(escapeDataLine("+OK looks like status"), " +OK looks like status");
  equal(escapeDataLine("-ERR too"), " -ERR too");
  equal(escapeDataLine("plain"), "plain");
  equal(escapeDataLine("a\r\nb"), "a b");
  equal(unescapeDataLine(" +OK x"), "+OK x");
  equal(unescapeDataLine(" plain"), " plain");
  equal(
    formatReply({ ok: true, text: "done", data: ["-x", "y"] }),
    " -x\r\ny\r\n+OK done\r\n",
  );
  equal(formatReply({ ok: false, text: "no\nway", data: [] }), "-ERR no way\r\n");
});

Deno.test("command table: longest match, family errors, help names the family", () => {
  equal(findCommand(["LIST", "MEMBER", "ADD"])?.spec.path, "LIST MEMBER ADD");
  equal(findCommand(["USER", "SHOW", "ALL"])?.length, 2);
  equal(findCommand(["USER"]), null);
  equal(
    unknownCommand(["USER"]).message,
    "USER needs one of ADD, MOD, DEL, SHOW, MOVE; USER HELP shows the syntax",
  );
  equal(unknownCommand(["BOGUS"]).message, 'unknown command "BOGUS"; HELP lists the commands');
  for (const family of ["USER", "DOMAIN", "ALIAS", "LIST", "DENY", "QUEUE", "DNS"]) {
    const reply = help([family]);
    equal(reply.ok, true);
    equal(reply.data[0], `${family} commands:`);
    equal(reply.text.startsWith(`${family} help`), true);
  }
  throws(() => help(["NOPE"]), /no help for "NOPE"/);
});

Deno.test("LoginGuard: 5 failures in 10 minutes lock for 10 minutes", () => {
  let now = 1_000_000;
  const guard = new LoginGuard(undefined, () => now);
  for (let i = 0; i < 4; i++) equal(guard.recordFailure("192.0.2.1"), 0);
  equal(guard.lockedUntil("192.0.2.1"), 0);
  equal(guard.recordFailure("192.0.2.1"), now + 600_000);
  equal(guard.lockedUntil("192.0.2.1"), now + 600_000);
  equal(guard.lockedUntil("192.0.2.2"), 0, "other addresses are not affected");
  guard.recordSuccess("192.0.2.1");
  equal(guard.lockedUntil("192.0.2.1") > 0, true, "a lock is not lifted by success");
  now += 600_001;
  equal(guard.lockedUntil("192.0.2.1"), 0);
  // Failures spread over more than 10 minutes do not lock.
  for (let i = 0; i < 8; i++) {
    equal(guard.recordFailure("192.0.2.3"), 0);
    now += 150_000;
  }
  // Success clears the count.
  for (let i = 0; i < 4; i++) guard.recordFailure("192.0.2.4");
  guard.recordSuccess("192.0.2.4");
  equal(guard.recordFailure("192.0.2.4"), 0);
});

Deno.test("CLI commandLine quotes values the shell unquoted", () => {
  equal(
    commandLine(["USER", "MOD", "NAME=bob", "AUTOREPLYSUBJECT=On leave", 'X=say "hi"']),
    'USER MOD NAME=bob AUTOREPLYSUBJECT="On leave" X="say \\"hi\\""',
  );
  equal(commandLine(["USER", "ADD", 'NAME="a b"', "PASS="]), 'USER ADD NAME="a b" PASS=');
  equal(commandLine(["USER SHOW ALL"]), "USER SHOW ALL");
});

Deno.test("parseLine never throws anything but AdminSyntaxError on random input", () => {
  const alphabet = ['"', "\\", "=", " ", "\t", "a", "Z", "1", "-", "_", "é", "\x01"];
  let seed = 42;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 5000; i++) {
    let line = "";
    for (let j = rand(20); j > 0; j--) line += alphabet[rand(alphabet.length)];
    try {
      const p = parseLine(line);
      for (const w of p.words) equal(w, w.toUpperCase());
    } catch (e) {
      if (!(e instanceof AdminSyntaxError)) throw e;
    }
    redactForLog(line);
  }
});

Deno.test("LoginGuard.exclusive runs one address's checks one at a time", async () => {
  const guard = new LoginGuard();
  const order: string[] = [];
  const check = (name: string, ms: number) => () =>
    new Promise<string>((resolve) => {
      order.push(`start ${name}`);
      setTimeout(() => {
        order.push(`end ${name}`);
        resolve(name);
      }, ms);
    });
  const results = await Promise.all([
    guard.exclusive("192.0.2.9", check("a", 20)),
    guard.exclusive("192.0.2.9", check("b", 1)),
    guard.exclusive("192.0.2.9", () => Promise.reject(new Error("c fails"))).catch((e) =>
      e.message
    ),
    guard.exclusive("192.0.2.9", check("d", 1)),
  ]);
  deepStrictEqual(results, ["a", "b", "c fails", "d"]);
  deepStrictEqual(order, ["start a", "end a", "start b", "end b", "start d", "end d"]);
});
