/**
 * Configuration values as TOML text: what `extremail check-conf` prints, what convert-conf
 * writes, and how values are quoted in error messages.
 */

import { replaceControls } from "../message/controls.ts";
import { type Config, CONFIG_KEYS, shownValue } from "./schema.ts";

/** Stands in for secrets (RelayPassword) unless the caller asks to see them. */
export const HIDDEN_SECRET = "********";

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\f": "\\f",
  "\r": "\\r",
};

/** A TOML basic string. JSON.stringify is close but leaves DEL raw, which TOML forbids. */
export function tomlString(text: string): string {
  // TOML requires quotes, backslashes and control characters to be escaped.
  const escaped = replaceControls(
    text.replace(/["\\]/g, (c) => SHORT_ESCAPES[c]),
    (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${escaped}"`;
}

/**
 * Any value as TOML-like text: exact for strings, numbers, booleans and arrays of them;
 * a short description for what TOML can hold but a key never takes (tables, dates).
 */
export function tomlValue(value: unknown): string {
  if (typeof value === "string") return tomlString(value);
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    return String(value);
  }
  if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(", ")}]`;
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object" && isTableOfStrings(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    return `{ ${entries.map(([k, v]) => `${tomlKey(k)} = ${tomlString(v)}`).join(", ")} }`;
  }
  if (value !== null && typeof value === "object") return "{ a table }";
  return String(value);
}

function isTableOfStrings(value: object): value is Record<string, string> {
  return Object.getPrototypeOf(value) === Object.prototype &&
    Object.values(value).every((v) => typeof v === "string");
}

/** A TOML key: bare when it can be, else quoted. */
function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

/** tomlValue cut to a length that keeps an error message on one readable line. */
export function shortTomlValue(value: unknown, limit = 80): string {
  const text = tomlValue(value);
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
}

export interface FormatOptions {
  /** Print secrets (RelayPassword, ClusterSecret, Directory's password) as they are. */
  showSecrets?: boolean;
}

/**
 * Every key with its effective value, one `Key = value` line each, in schema order.
 * The output is a valid configuration file that loads back to the same Config
 * (secrets included only with showSecrets).
 */
export function formatConfig(config: Readonly<Config>, options: FormatOptions = {}): string {
  const lines = CONFIG_KEYS.map((spec) => {
    const value = config[spec.key];
    const shown = options.showSecrets ? value : shownValue(spec.key, value, HIDDEN_SECRET);
    return `${spec.key} = ${tomlValue(shown)}`;
  });
  return lines.join("\n") + "\n";
}
