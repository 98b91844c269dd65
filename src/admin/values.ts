/**
 * Typed parameter values of the admin protocol (SPEC §4): sizes with K/M/G suffixes,
 * YES/NO and ON/OFF switches, address lists with NONE. Pure functions; each error
 * names the parameter and what it accepts.
 */
import { AdminError } from "./reply.ts";

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "1048576", "512K", "10M", "2G" (K = 1024) -> bytes; 0 means no limit. */
export function parseSize(key: string, text: string): number {
  const m = /^(\d{1,15})([KMG]?)B?$/i.exec(text.trim());
  if (!m) {
    throw new AdminError(
      `${key}=${text} is not a size: use bytes or a number with K, M or G (K = 1024), e.g. 10M`,
    );
  }
  const bytes = Number(m[1]) * UNITS[m[2].toUpperCase()];
  if (!Number.isSafeInteger(bytes)) throw new AdminError(`${key}=${text} is too large`);
  return bytes;
}

const TRUE_WORDS = ["YES", "ON", "TRUE", "1"];
const FALSE_WORDS = ["NO", "OFF", "FALSE", "0"];

/** YES/NO, ON/OFF (and TRUE/FALSE, 1/0), case-insensitive. */
export function parseSwitch(key: string, text: string, shown: "YES|NO" | "ON|OFF"): boolean {
  const word = text.trim().toUpperCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new AdminError(`${key}=${text}: expected ${shown}`);
}

/** "NONE" (any case) or an empty value stands for "no value" in FORWARD, COPY and MAP. */
export function isNone(text: string): boolean {
  const t = text.trim();
  return t === "" || t.toUpperCase() === "NONE";
}

/** Comma-separated addresses; NONE gives the empty list. Syntax is checked by the directory. */
export function parseAddressList(key: string, text: string): string[] {
  if (isNone(text)) return [];
  const items = text.split(",").map((a) => a.trim());
  if (items.some((a) => a === "")) {
    throw new AdminError(`${key}=${text}: empty address in the comma-separated list`);
  }
  return items;
}

export function yesNo(value: boolean): string {
  return value ? "YES" : "NO";
}

export function onOff(value: boolean): string {
  return value ? "ON" : "OFF";
}

/** Epoch milliseconds as an ISO 8601 UTC timestamp without fractions. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
