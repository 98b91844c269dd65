/**
 * RFC 5322 §3.3 date-time: the one formatter (Date, Received, Arrival-Date fields the
 * server writes) and the one parser (SEARCH SENTBEFORE/SENTON/SENTSINCE). The parser is
 * a scanner: one pass, no backtracking, whatever a Date field holds.
 */
import { isAsciiDigit as isDigit, isAsciiLetter as isLetter, isAsciiSpace } from "./controls.ts";
import { stripComments } from "./fold.ts";

export const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
export const MONTH_NAMES = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

const pad2 = (n: number) => String(n).padStart(2, "0");

/**
 * `Tue, 01 Jul 2025 10:52:37 +0200` (RFC 5322 §3.3; the day in two digits, as Received
 * headers commonly have it): the wall clock time in a zone `zoneMinutes` east of UTC,
 * the host's local zone when omitted.
 */
export function formatDate(when: Date | number = Date.now(), zoneMinutes?: number): string {
  const ms = typeof when === "number" ? when : when.getTime();
  // Most calls are for now, in the host's zone (a Received field per message): the text
  // of the last second is reused (its zone too: an offset changes on a second boundary).
  const second = Math.floor(ms / 1000);
  if (zoneMinutes === undefined && second === lastLocal.second) return lastLocal.text;
  const zone = zoneMinutes ?? -new Date(ms).getTimezoneOffset();
  const text = formatInZone(ms, zone);
  if (zoneMinutes === undefined) {
    lastLocal.second = second;
    lastLocal.text = text;
  }
  return text;
}

/** The last formatDate() in the host's zone: its second since the epoch and its text. */
const lastLocal = { second: NaN, text: "" };

function formatInZone(ms: number, zone: number): string {
  // The wall clock of that zone, read with the UTC getters.
  const d = new Date(ms + zone * 60_000);
  const abs = Math.abs(zone);
  return `${DAY_NAMES[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTH_NAMES[d.getUTCMonth()]} ` +
    `${d.getUTCFullYear()} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:` +
    `${pad2(d.getUTCSeconds())} ${zone < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}${
      pad2(abs % 60)
    }`;
}

/** An RFC 5322 date, as an instant and as the calendar day written in it. */
export interface ParsedDate {
  /** Milliseconds since the epoch (UTC). */
  time: number;
  /**
   * Midnight UTC of the day as written (the sender's local date): what SENTBEFORE,
   * SENTON and SENTSINCE compare, "disregarding time and timezone" (RFC 9051 §6.4.4).
   */
  day: number;
  /** Zone offset in minutes east of UTC as written (0 for unknown zones). */
  zone: number;
}

const MONTHS = MONTH_NAMES.map((m) => m.toLowerCase());
// RFC 5322 §4.3 obsolete zones; military zones are treated as UTC (their sign was
// historically inverted, so they carry no usable information).
const ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/** White space as `\s` has it (dates were read with regexes; NBSP and friends count). */
function isSpace(c: number): boolean {
  return isAsciiSpace(c) || (c > 0x7f && /\s/.test(String.fromCharCode(c)));
}

/** A cursor over the date text; each read consumes what it matched, or nothing. */
class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  code(): number {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1;
  }
  /** Up to `max` digits (at least `min`), or -1 without consuming. */
  digits(min: number, max: number): { value: number; length: number } | null {
    const start = this.i;
    while (this.i - start < max && isDigit(this.code())) this.i++;
    if (this.i - start < min) {
      this.i = start;
      return null;
    }
    return { value: Number(this.s.slice(start, this.i)), length: this.i - start };
  }
  letters(): string {
    const start = this.i;
    while (isLetter(this.code())) this.i++;
    return this.s.slice(start, this.i);
  }
  /** Skips white space (and "-" when `dash`); the count skipped. */
  spaces(dash = false): number {
    const start = this.i;
    while (isSpace(this.code()) || (dash && this.code() === 45)) this.i++;
    return this.i - start;
  }
}

/**
 * Parses an RFC 5322 date-time (`[Day,] DD Mon YYYY HH:MM[:SS] zone`, with obsolete
 * forms: comments, 2-digit years, named zones, missing seconds, "-" between the date's
 * parts). Text after the zone is ignored. Null when unusable.
 */
export function parseDate(value: string): ParsedDate | null {
  const sc = new Scanner(stripComments(value, " "));
  sc.spaces();
  // The day name, if any: a word, then optional white space and comma.
  if (isLetter(sc.code())) {
    sc.letters();
    sc.spaces();
    if (sc.code() === 44) sc.i++;
    sc.spaces();
  }
  const day = sc.digits(1, 2);
  if (!day || isDigit(sc.code()) || sc.spaces(true) === 0) return null;
  const monthName = sc.letters();
  const month = monthName.length >= 3 ? MONTHS.indexOf(monthName.slice(0, 3).toLowerCase()) : -1;
  if (month < 0 || sc.spaces(true) === 0) return null;
  const yearDigits = sc.digits(2, 4);
  if (!yearDigits || isDigit(sc.code()) || sc.spaces() === 0) return null;
  const hour = sc.digits(1, 2);
  if (!hour || sc.code() !== 58) return null;
  sc.i++;
  const minute = sc.digits(2, 2);
  if (!minute) return null;
  let second = 0;
  if (sc.code() === 58) {
    const at = sc.i;
    sc.i++;
    const s = sc.digits(2, 2);
    if (s) second = s.value;
    else sc.i = at;
  }
  sc.spaces();
  let zone = 0;
  const sign = sc.code();
  if (sign === 43 || sign === 45) {
    sc.i++;
    const z = sc.digits(4, 4);
    if (z) {
      const minutes = Math.floor(z.value / 100) * 60 + (z.value % 100);
      zone = sign === 45 ? -minutes : minutes;
    }
  } else if (isLetter(sign)) zone = ZONES[sc.letters().toLowerCase()] ?? 0;

  let year = yearDigits.value;
  if (day.value < 1 || day.value > 31) return null;
  // RFC 5322 §4.3: two-digit years: 00-49 are 2000-2049, 50-99 are 1950-1999;
  // three-digit years add 1900.
  if (yearDigits.length === 2) year += year < 50 ? 2000 : 1900;
  else if (yearDigits.length === 3) year += 1900;
  if (hour.value > 23 || minute.value > 59 || second > 60) return null;
  const dayUtc = Date.UTC(year, month, day.value);
  if (Number.isNaN(dayUtc)) return null;
  const time = Date.UTC(year, month, day.value, hour.value, minute.value, Math.min(second, 59)) -
    zone * 60_000;
  return { time, day: dayUtc, zone };
}
