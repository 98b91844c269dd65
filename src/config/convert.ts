/**
 * `extremail convert-conf`: a classic eXtremail.conf ("Key = value" lines) to TOML.
 *
 * Classic syntax accepted: `#` comment lines (and ` # comment` after a value), blank lines,
 * key names in any letter case, values bare or in single/double quotes, comma-separated
 * lists (optionally in brackets), whole numbers, and yes/no/true/false/on/off for the one
 * yes/no-like key, PlainAuthWithoutTLS. Comments and blank lines are carried over; unknown
 * keys are reported and kept as comments, so nothing is lost silently. Values are checked
 * by the same rules as the TOML file, and the output is verified to load.
 */

import { shortTomlValue, tomlValue } from "./format.ts";
import { configFromValues, parseConfigText } from "./load.ts";
import { ConfigError, type ConfigKey, type KeySpec, keySpecIgnoringCase } from "./schema.ts";

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

/** Comma-separated items (commas inside quotes do not split), each unquoted. */
function splitList(text: string): string[] {
  let body = text.trim();
  if (body.startsWith("[") && body.endsWith("]")) body = body.slice(1, -1).trim();
  if (body === "") return [];
  const items: string[] = [];
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "," || i === body.length) {
      items.push(unquote(body.slice(start, i)));
      start = i + 1;
    }
  }
  return items;
}

/** A classic number, or the text itself so that validation reports it as not a number. */
function classicNumber(text: string): number | string {
  const bare = unquote(text);
  return /^\+?[0-9]+$/.test(bare) ? Number(bare) : bare;
}

/** The classic text of a value as the TOML type its key takes. */
function classicValue(spec: KeySpec, text: string): unknown {
  switch (spec.kind) {
    case "integer":
      return classicNumber(text);
    case "integerList":
      return splitList(text).map(classicNumber);
    case "stringList":
      return splitList(text);
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
 * Translates a classic eXtremail.conf to TOML. Throws ConfigError (naming the classic line)
 * for lines that are not `Key = value`, keys given twice, and values the schema refuses.
 */
export function convertClassic(text: string, sourceName = "eXtremail.conf"): ConvertResult {
  const unknown: ConvertResult["unknown"] = [];
  const values: Record<string, unknown> = {};
  const lineOfKey = new Map<string, number>();
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
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) {
      output.push(line);
      return;
    }
    const match = /^([A-Za-z][A-Za-z0-9_.-]*)\s*=(.*)$/.exec(line);
    if (!match) {
      throw new ConfigError(
        `${sourceName} line ${lineNumber}: ${shortTomlValue(line)}: expected "Key = value"` +
          ' (comments start with "#")',
      );
    }
    const [, name, rest] = match;
    const spec = keySpecIgnoringCase(name);
    if (!spec) {
      unknown.push({ line: lineNumber, key: name });
      output.push(`# unknown key, not converted (line ${lineNumber}): ${line}`);
      return;
    }
    const firstLine = lineOfKey.get(spec.key);
    if (firstLine !== undefined) {
      throw new ConfigError(
        `${sourceName} line ${lineNumber}: ${spec.key} is given twice (first on line ${firstLine});` +
          " keep one",
      );
    }
    const { value, comment } = splitComment(rest);
    lineOfKey.set(spec.key, lineNumber);
    values[spec.key] = classicValue(spec, value);
    output.push({ key: spec.key, comment });
  });

  const where = (key: string) => {
    const line = lineOfKey.get(key);
    return line === undefined ? sourceName : `${sourceName} line ${line}`;
  };
  const config = configFromValues(values, where, null);

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
