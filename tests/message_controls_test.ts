/** src/message/controls.ts: the control-character and ASCII-range checks every service uses. */
import { equal } from "node:assert/strict";
import {
  firstControl,
  hasControl,
  isAscii,
  isControl,
  isPrintableAscii,
  isVisibleAscii,
  replaceControls,
  toPrintableAscii,
  toVisibleAscii,
} from "../src/message/controls.ts";

Deno.test("controls: C0 and DEL, nothing else", () => {
  for (let c = 0; c < 0x100; c++) {
    equal(isControl(c), c < 0x20 || c === 0x7f, `0x${c.toString(16)}`);
  }
  equal(hasControl("plain text"), false);
  equal(hasControl("tab\there"), true);
  equal(hasControl("tab\there", true), false);
  equal(hasControl("del\x7f"), true);
  equal(hasControl("\u0085 and \u200b are not C0"), false);
  equal(firstControl("ab\x00c\nd"), 2);
  equal(firstControl("a\tb\rc", true), 3);
  equal(firstControl(""), -1);
});

Deno.test("controls: replacing, one by one or a run at a time", () => {
  equal(replaceControls("a\r\nb\x00c", "?"), "a??b?c");
  equal(replaceControls("550 no\r\n such\x1b[31m user", " ", true), "550 no  such [31m user");
  equal(replaceControls("one\r\n\r\ntwo", " ", true), "one two");
  equal(replaceControls("x\ty\x7f", (c) => `\\u${c.charCodeAt(0).toString(16)}`), "x\\u9y\\u7f");
  equal(replaceControls("clean", "?"), "clean");
  equal(replaceControls("\n", ""), "");
});

Deno.test("controls: ASCII ranges", () => {
  equal(isAscii("abc\x00\x7f"), true);
  equal(isAscii("Grüße"), false);
  equal(isAscii(new Uint8Array([0x41, 0x7f])), true);
  equal(isAscii(new Uint8Array([0x41, 0x80])), false);
  equal(isPrintableAscii("Hello, world ~"), true);
  equal(isPrintableAscii("tab\t"), false);
  equal(isPrintableAscii("é"), false);
  equal(isVisibleAscii("token!~"), true);
  equal(isVisibleAscii("two words"), false);
  equal(isVisibleAscii(""), true);
  equal(toPrintableAscii("a b\tc\u00e9"), "a b?c?");
  equal(toVisibleAscii("a b\tc\u00e9", "_"), "a_b_c_");
  equal(toVisibleAscii("\ud83c\udf82"), "??"); // per UTF-16 unit, as the regexes it replaced
});
