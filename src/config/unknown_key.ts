/**
 * The message for a key the schema does not know: the closest known key when there is
 * one (same letters in another case, or at most two edits away), and never the value of
 * what looks like a password.
 */
import { HIDDEN_SECRET, shortTomlValue } from "./format.ts";
import { CONFIG_KEYS, isSecretKey, keySpecIgnoringCase } from "./schema.ts";

export function unknownKeyMessage(where: string, key: string, value: unknown): string {
  const isTable = value !== null && typeof value === "object" && !Array.isArray(value) &&
    !(value instanceof Date);
  if (isTable) {
    return `${where}: [${key}]: unknown table; write only top-level "Key = value" lines` +
      " (see conf/extremail.toml)";
  }
  const suggestion = suggestKey(key);
  const fix = suggestion
    ? `did you mean ${suggestion}?`
    : "remove it or check its spelling against conf/extremail.toml";
  // A misspelt password key still holds a password.
  const secret = /pass|secret/i.test(key) || (suggestion !== undefined && isSecretKey(suggestion));
  return `${where}: ${key} = ${
    secret ? HIDDEN_SECRET : shortTomlValue(value)
  }: unknown key; ${fix}`;
}

/** The known key a misspelt one most likely meant: same letters in other case, or close. */
function suggestKey(key: string): string | undefined {
  const sameIgnoringCase = keySpecIgnoringCase(key);
  if (sameIgnoringCase) return sameIgnoringCase.key;
  const lower = key.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const spec of CONFIG_KEYS) {
    const distance = editDistance(lower, spec.key.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: spec.key, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}
