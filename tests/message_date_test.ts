/** src/message/date.ts: the RFC 5322 date formatter and parser. */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { formatDate, parseDate } from "../src/message/date.ts";

Deno.test("formatDate: RFC 5322 §3.3 in a given zone or the local one", () => {
  equal(formatDate(Date.UTC(2025, 0, 2, 3, 4, 5), 0), "Thu, 02 Jan 2025 03:04:05 +0000");
  equal(formatDate(0, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
  // The wall clock of the zone: 23:30 UTC is the next day at +0200, the day before at -0530.
  equal(formatDate(Date.UTC(2025, 6, 1, 23, 30, 0), 120), "Wed, 02 Jul 2025 01:30:00 +0200");
  equal(formatDate(Date.UTC(2025, 6, 1, 3, 0, 59), -330), "Mon, 30 Jun 2025 21:30:59 -0530");
  equal(formatDate(new Date(Date.UTC(2025, 11, 31, 12)), 0), "Wed, 31 Dec 2025 12:00:00 +0000");
  match(
    formatDate(new Date()),
    /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/,
  );
});

Deno.test("formatDate and parseDate round trip, in any zone", () => {
  for (const zone of [0, 60, -420, 345, -720, 840]) {
    for (const t of [0, Date.UTC(2000, 1, 29, 23, 59, 59), Date.UTC(2038, 0, 19, 3, 14, 7)]) {
      const text = formatDate(t, zone);
      const parsed = parseDate(text);
      equal(parsed?.time, t, text);
      equal(parsed?.zone, zone, text);
    }
  }
  // The local formatter's output reads back as the same instant (to the second).
  const now = Math.floor(Date.now() / 1000) * 1000;
  equal(parseDate(formatDate(new Date(now)))?.time, now);
});

Deno.test("parseDate: RFC 5322 dates and their obsolete forms", () => {
  const d = parseDate("Tue, 14 Mar 2023 09:26:51 +0100");
  deepStrictEqual(d, {
    time: Date.UTC(2023, 2, 14, 8, 26, 51),
    day: Date.UTC(2023, 2, 14),
    zone: 60,
  });
  // The written day counts for SENTON even when UTC is already the next day.
  deepStrictEqual(parseDate("5 Apr 2023 23:59:59 -0700"), {
    time: Date.UTC(2023, 3, 6, 6, 59, 59),
    day: Date.UTC(2023, 3, 5),
    zone: -420,
  });
  equal(
    parseDate("Fri, 31 Mar 2023 17:45:02 +0200 (CEST)")?.time,
    Date.UTC(2023, 2, 31, 15, 45, 2),
  );
  equal(parseDate("1 Jan 99 00:00 GMT")?.time, Date.UTC(1999, 0, 1));
  equal(parseDate("1 Jan 05 00:00 EST")?.time, Date.UTC(2005, 0, 1, 5));
  equal(parseDate("Sunday, 01-Jan-2023 10:00:00 UT")?.day, Date.UTC(2023, 0, 1));
  equal(parseDate("1 January 2023 10:00:00")?.zone, 0);
  equal(parseDate("garbage"), null);
  equal(parseDate(""), null);
  equal(parseDate("32 Jan 2023 10:00:00 +0000"), null);
  equal(parseDate("1 Foo 2023 10:00:00 +0000"), null);
  equal(parseDate("1 Jan 2023 25:00:00 +0000"), null);
});

Deno.test("parseDate: comments, odd spacing and trailing text", () => {
  equal(
    parseDate("(sent) Tue, (x) 14 Mar 2023 09:26:51 +0100 (CET (nested))")?.time,
    Date.UTC(2023, 2, 14, 8, 26, 51),
  );
  equal(parseDate("  14  Mar  2023  09:26  +0100 trailing")?.time, Date.UTC(2023, 2, 14, 8, 26));
  equal(parseDate("14 Mar 2023 09:26:5 +0100")?.zone, 0); // a broken second ends the parse
  deepStrictEqual(parseDate("14 Mar 2023 9:26:00 +01")?.zone, 0);
  ok(parseDate("14 Mar 2023 09:26:00 -0000") !== null);
  equal(parseDate("123 Mar 2023 09:26"), null);
  equal(parseDate("14 Mar 20234 09:26"), null);
  equal(parseDate("14 Mar 2023 091:26"), null);
  equal(parseDate("14 Ma 2023 09:26"), null);
});

Deno.test("formatDate: the local zone's text of a second is reused only within that second", () => {
  const local = (ms: number) => {
    const zone = -new Date(ms).getTimezoneOffset();
    return formatDate(ms, zone);
  };
  const base = Date.UTC(2026, 11, 7, 4, 30, 15);
  // The same second in any order, then the next and back: each as formatted afresh.
  for (const ms of [base + 999, base, base + 1000, base + 1, base - 1, base + 2500, base]) {
    equal(formatDate(ms), local(ms), String(ms));
    equal(formatDate(new Date(ms)), local(ms), String(ms));
  }
  // A zone given explicitly is never answered from the local cache.
  formatDate(base);
  equal(formatDate(base, 0), "Mon, 07 Dec 2026 04:30:15 +0000");
  equal(formatDate(base, 60), "Mon, 07 Dec 2026 05:30:15 +0100");
});
