/**
 * `extremail convert-conf`: a classic eXtremail.conf ("Key = value" lines) to TOML.
 *
 * Classic syntax accepted: `#` comment lines (and ` # comment` after a value), blank lines,
 * key names in any letter case, values bare or in single/double quotes, lists separated by
 * commas and/or spaces (optionally in brackets), whole numbers (sizes in bytes also with a
 * K, M or G suffix, K = 1024, as the admin protocol takes them), and yes/no/true/false/
 * on/off for the boolean keys (DKIMSign, SRS) and the yes/no-like PlainAuthWithoutTLS, and
 * `name=host:port` pairs separated by commas for the table Nodes. Comments and blank lines are
 * carried over; unknown keys are reported and kept as comments, so nothing is lost
 * silently. Values are checked by the same rules as the TOML file, every problem is
 * reported in the classic syntax with its line, and the output is verified to load.
 */

import { HIDDEN_SECRET, shortTomlValue, tomlValue } from "./format.ts";
import { configFromValues, parseConfigText } from "./load.ts";
import {
  type Config,
  ConfigError,
  type ConfigKey,
  keySpecIgnoringCase,
  schemaDefaults,
  shownValue,
} from "./schema.ts";
import { checkValue } from "./check_value.ts";
import type { KeySpec } from "./key_spec.ts";

export interface ConvertResult {
  toml: string;
  /** Keys the schema does not know, with their 1-based line in the classic file. */
  unknown: { line: number; key: string }[];
}

/** What the yes/no words mean for keys whose TOML form is a choice, not a boolean. */
const YES_NO_CHOICES: Partial<Record<ConfigKey, { yes: string; no: string }>> = {
  // eXtremail had a yes/no switch for cleartext logins; "yes" allowed them everywhere.
  PlainAuthWithoutTLS: { yes: "always", no: "never" },
};

const YES_WORDS = new Set(["yes", "true", "on"]);
const NO_WORDS = new Set(["no", "false", "off"]);

/** Splits a value from a trailing ` # comment`, leaving `#` inside quotes alone. */
function splitComment(text: string): { value: string; comment: string } {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      return { value: text.slice(0, i).trim(), comment: text.slice(i).trim() };
    }
  }
  return { value: text.trim(), comment: "" };
}

/** Removes one pair of matching surrounding quotes; classic values have no escapes. */
function unquote(text: string): string {
  const trimmed = text.trim();
  const first = trimmed[0];
  if (trimmed.length >= 2 && (first === '"' || first === "'") && trimmed.endsWith(first)) {
    return trimmed.slice(1, -1);
  }
  return trimmed;
}

/**
 * List items separated by commas and/or spaces (inside quotes neither splits), each
 * unquoted: `0.0.0.0, ::`, `0.0.0.0 ::` and `[300, 900]` all work.
 */
function splitList(text: string): string[] {
  let body = text.trim();
  if (body.startsWith("[") && body.endsWith("]")) body = body.slice(1, -1).trim();
  const items: string[] = [];
  let quote: string | null = null;
  let current = "";
  const finish = () => {
    if (current.trim() !== "") items.push(unquote(current));
    current = "";
  };
  for (const c of body) {
    if (quote) {
      if (c === quote) quote = null;
      current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      current += c;
    } else if (c === "," || /\s/.test(c)) {
      finish();
    } else {
      current += c;
    }
  }
  finish();
  return items;
}

const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * A classic number, or the text itself so that validation reports it as not a number.
 * Sizes in bytes take a K, M or G suffix (K = 1024), as in the admin protocol.
 */
function classicNumber(text: string, bytes: boolean): number | string {
  const bare = unquote(text);
  const m = /^\+?([0-9]+)\s*([KMG]?)B?$/i.exec(bare);
  if (!m || (!bytes && m[2] !== "") || (!bytes && /b$/i.test(bare))) return bare;
  return Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()];
}

/** The classic text of a value as the TOML type its key takes. */
function classicValue(spec: KeySpec, text: string): unknown {
  switch (spec.kind) {
    case "integer":
      return classicNumber(text, spec.bytes === true);
    case "integerList":
      return splitList(text).map((item) => classicNumber(item, false));
    case "stringList":
      return splitList(text);
    case "stringTable": {
      // Nodes = mx1=10.0.0.1:2525, mx2=10.0.0.2:2525 (an item without "=" is reported).
      const table: Record<string, unknown> = {};
      for (const item of splitList(text)) {
        const eq = item.indexOf("=");
        if (eq <= 0) return text;
        table[item.slice(0, eq).trim()] = unquote(item.slice(eq + 1));
      }
      return table;
    }
    case "boolean": {
      const word = unquote(text).toLowerCase();
      return YES_WORDS.has(word) ? true : NO_WORDS.has(word) ? false : unquote(text);
    }
    case "string": {
      const value = unquote(text);
      const yesNo = YES_NO_CHOICES[spec.key];
      if (yesNo && YES_WORDS.has(value.toLowerCase())) return yesNo.yes;
      if (yesNo && NO_WORDS.has(value.toLowerCase())) return yesNo.no;
      return value;
    }
  }
}

/**
 * What is wrong with a classic value, said in the classic syntax (no TOML quotes or
 * brackets), with an example of what to write.
 */
function classicProblem(spec: KeySpec, value: unknown, problem: string): string {
  if (spec.kind === "integer" && typeof value === "string") {
    return spec.bytes
      ? `must be a number of bytes, optionally with K, M or G (K = 1024); write e.g. ` +
        `${spec.key} = 10M or ${spec.key} = ${spec.defaultValue}`
      : `must be a whole number; write e.g. ${spec.key} = ${spec.defaultValue}`;
  }
  if (
    spec.kind === "integerList" && Array.isArray(value) && value.some((v) => typeof v !== "number")
  ) {
    return `must list whole numbers separated by commas or spaces; write e.g. ${spec.key} = ${
      spec.defaultValue.join(", ")
    }`;
  }
  if (spec.kind === "boolean") return "must be yes or no (or true/false, on/off)";
  if (spec.kind === "stringTable" && typeof value === "string") {
    return `must list name=host:port pairs separated by commas; write e.g. ${spec.key} =` +
      " mx1=10.0.0.1:2525, mx2=10.0.0.2:2525";
  }
  if (spec.kind === "string" && spec.choices) {
    return `must be one of ${spec.choices.join(", ")}` +
      (YES_NO_CHOICES[spec.key] ? " (or yes/no)" : "");
  }
  return problem;
}

interface ClassicLine {
  line: number;
  key: ConfigKey;
  /** The value as written (for messages). */
  text: string;
}

/**
 * Translates a classic eXtremail.conf to TOML. Throws one ConfigError that lists every
 * problem, each naming its classic line: lines that are not `Key = value`, keys given
 * twice, and values the schema refuses.
 */
export function convertClassic(text: string, sourceName = "eXtremail.conf"): ConvertResult {
  const unknown: ConvertResult["unknown"] = [];
  const problems: { line: number; text: string }[] = [];
  const values: Record<string, unknown> = {};
  const seen = new Map<string, ClassicLine>();
  // Output lines; known keys are filled in after validation normalizes their values.
  const output: ({ key: ConfigKey; comment: string } | string)[] = [
    "# Converted from a classic eXtremail.conf by `extremail convert-conf`.",
    "# Keys not set here take the defaults shown in conf/extremail.toml.",
    "",
  ];

  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop(); // the newline that ends the last line
  lines.forEach((rawLine, index) => {
    const lineNumber = index + 1;
    const place = `${sourceName} line ${lineNumber}`;
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) {
      output.push(line);
      return;
    }
    const match = /^([A-Za-z][A-Za-z0-9_.-]*)\s*=(.*)$/.exec(line);
    if (!match) {
      problems.push({
        line: lineNumber,
        text: `${place}: ${shortTomlValue(line)}: expected "Key = value"` +
          ' (comments start with "#")',
      });
      return;
    }
    const [, name, rest] = match;
    const spec = keySpecIgnoringCase(name);
    if (!spec) {
      unknown.push({ line: lineNumber, key: name });
      output.push(`# unknown key, not converted (line ${lineNumber}): ${line}`);
      return;
    }
    const first = seen.get(spec.key);
    if (first !== undefined) {
      problems.push({
        line: lineNumber,
        text: `${place}: ${spec.key} is given twice (first on line ${first.line}); keep one`,
      });
      return;
    }
    const { value, comment } = splitComment(rest);
    seen.set(spec.key, { line: lineNumber, key: spec.key, text: value });
    const converted = classicValue(spec, value);
    const checked = checkValue(spec, converted);
    if (checked.problem !== undefined) {
      const shown = shownValue(spec.key, value, HIDDEN_SECRET);
      problems.push({
        line: lineNumber,
        text: `${place}: ${spec.key} = ${shown}: ${
          classicProblem(spec, converted, checked.problem)
        }`,
      });
      return;
    }
    values[spec.key] = converted;
    output.push({ key: spec.key, comment });
  });

  const where = (key: string) => {
    const line = seen.get(key)?.line;
    return line === undefined ? sourceName : `${sourceName} line ${line}`;
  };
  // Each value is valid on its own now; what is left are rules between keys.
  let config: Config = schemaDefaults();
  try {
    config = configFromValues(values, where, null);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const p of error.problems) {
      const m = / line (\d+): /.exec(p);
      problems.push({ line: m ? Number(m[1]) : 0, text: p });
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.sort((a, b) => a.line - b.line).map((p) => p.text));
  }

  const toml = output.map((entry) => {
    if (typeof entry === "string") return entry;
    const assignment = `${entry.key} = ${tomlValue(config[entry.key])}`;
    return entry.comment ? `${assignment} ${entry.comment}` : assignment;
  }).join("\n") + "\n";

  // The promise of convert-conf: its output loads. A failure here is a bug in this file.
  try {
    parseConfigText(toml, "converted TOML", { baseDir: null });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(
      `${sourceName}: internal error, the converted TOML does not load: ${message}`,
    );
  }
  return { toml, unknown };
}
