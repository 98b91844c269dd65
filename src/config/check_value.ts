/**
 * Checking one configuration value, as TOML produced it, against its key's type and rule
 * (schema.ts). The problem is phrased to follow "Key = value: " in a message.
 */
import { hasControl } from "../message/controls.ts";
import type { KeySpec } from "./key_spec.ts";
import type { ConfigValue } from "./schema.ts";

const describeKind: Record<KeySpec["kind"], string> = {
  string: "must be a string in double quotes",
  integer: "must be a whole number, without quotes",
  stringList: 'must be a list of strings, e.g. ["a", "b"]',
  integerList: "must be a list of whole numbers, e.g. [300, 900]",
  stringTable: 'must be a table of strings, e.g. { mx1 = "10.0.0.1:2525" }',
  boolean: "must be true or false, without quotes",
};

/**
 * Checks a value as TOML produced it against a key's type and rule.
 * Returns the value to store (enum choices are normalized to lowercase) or the problem.
 */
export function checkValue(
  spec: KeySpec,
  value: unknown,
): { value: ConfigValue; problem?: undefined } | { problem: string } {
  let typeProblem = { problem: describeKind[spec.kind] };
  // The usual slips get the exact fix: a quoted number, a single value for a list.
  const size = typeof value === "string" ? /^\s*([0-9]+)\s*([KMG])B?\s*$/i.exec(value) : null;
  if (spec.kind === "integer" && typeof value === "string" && /^[0-9]+$/.test(value.trim())) {
    typeProblem = { problem: `must be a whole number; write ${value.trim()} without quotes` };
  } else if (spec.kind === "integer" && spec.bytes && size) {
    // "10M" is how sizes are written at the admin port; a TOML file holds plain bytes.
    const bytes = Number(size[1]) * 1024 ** (" KMG".indexOf(size[2].toUpperCase()));
    typeProblem = {
      problem: `must be a whole number of bytes; write ${bytes} for ${size[1]}${size[2]}`,
    };
  } else if (
    spec.kind.endsWith("List") && (typeof value === "string" || typeof value === "number")
  ) {
    typeProblem = { problem: `must be a list; write [${JSON.stringify(value)}]` };
  }
  if (spec.kind === "boolean" && typeof value === "string" && /^(true|false)$/i.test(value)) {
    typeProblem = { problem: `must be true or false; write ${value.toLowerCase()} without quotes` };
  }
  switch (spec.kind) {
    case "boolean":
      return typeof value === "boolean" ? { value } : typeProblem;
    case "string": {
      if (typeof value !== "string") return typeProblem;
      if (hasControl(value)) return { problem: "must not contain control characters" };
      if (spec.choices) {
        const choice = spec.choices.find((c) => c === value.toLowerCase());
        if (choice === undefined) {
          return { problem: `must be one of ${spec.choices.map((c) => `"${c}"`).join(", ")}` };
        }
        return { value: choice as ConfigValue };
      }
      const problem = spec.check?.(value) ?? null;
      if (problem !== null) return { problem };
      return { value: spec.normalize ? spec.normalize(value) : value };
    }
    case "integer": {
      if (typeof value !== "number" || !Number.isInteger(value)) return typeProblem;
      return value < spec.min || value > spec.max ? { problem: spec.rule } : { value };
    }
    case "stringList": {
      if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
        return typeProblem;
      }
      if (spec.nonEmpty && value.length === 0) {
        return {
          problem: `must list at least one entry, e.g. ${JSON.stringify(spec.defaultValue)}`,
        };
      }
      for (const item of value) {
        if (hasControl(item)) return { problem: "must not contain control characters" };
        const problem = spec.checkItem(item);
        if (problem !== null) return { problem };
      }
      return { value: [...value] };
    }
    case "stringTable": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return typeProblem;
      // Names are case-insensitive: stored lower-case, and two spellings of one are refused.
      const table: Record<string, string> = {};
      for (const [name, item] of Object.entries(value)) {
        if (typeof item !== "string") return typeProblem;
        if (hasControl(name) || hasControl(item)) {
          return { problem: "must not contain control characters" };
        }
        const problem = spec.checkEntry(name, item);
        if (problem !== null) return { problem };
        const key = name.trim().toLowerCase();
        if (key in table) return { problem: `names ${key} twice` };
        table[key] = item;
      }
      return { value: table };
    }
    case "integerList": {
      if (!Array.isArray(value)) return typeProblem;
      if (!value.every((item) => typeof item === "number" && Number.isInteger(item))) {
        return typeProblem;
      }
      if (value.length === 0 || value.some((item) => item < spec.min || item > spec.max)) {
        return { problem: spec.rule };
      }
      return { value: [...value] };
    }
  }
}
