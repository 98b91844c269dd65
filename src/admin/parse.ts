/**
 * The admin line grammar (SPEC §4), as pure functions over text so it can be unit-tested
 * and fuzzed apart from the socket.
 *
 *   line   = *WSP word *(1*WSP word) *(1*WSP param) *WSP
 *   word   = 1*(VCHAR except '"' and '=')           ; verbs, case-insensitive
 *   param  = key "=" (bare / quoted)                ; keys case-insensitive
 *   key    = ALPHA *(ALPHA / DIGIT / "_" / "-")
 *   bare   = *(VCHAR except '"')                    ; may be empty: PASS=
 *   quoted = DQUOTE *(qchar / "\" DQUOTE / "\\") DQUOTE
 *
 * Verbs come first, then parameters; a quoted value must be the whole value.
 */
import { firstControl } from "../message/controls.ts";

/** Raised for a line that does not follow the grammar; the message names the problem. */
export class AdminSyntaxError extends Error {}

export interface ParsedLine {
  /** Verb words, upper-cased: ["USER", "SHOW", "ALL"]. */
  words: string[];
  /** Parameters by upper-cased key, values exactly as written (quotes removed). */
  params: Map<string, string>;
}

const KEY = /^[A-Za-z][A-Za-z0-9_-]*$/;
const isSpace = (c: string) => c === " " || c === "\t";

/** Splits off the first word: `{verb: "LOGIN", rest: "the password"}` (rest keeps its spaces). */
export function splitVerb(text: string): { verb: string; rest: string } {
  const m = /^[ \t]*(\S*)(?:[ \t](.*))?$/s.exec(text)!;
  return { verb: m[1].toUpperCase(), rest: m[2] ?? "" };
}

/**
 * Rejects characters that have no place in a typed command: C0 controls other than TAB
 * and DEL. Values end up in logs, Maildir names and data lines, where a CR or NUL would
 * split or corrupt them.
 */
export function checkCharacters(text: string): void {
  const bad = firstControl(text, true);
  if (bad >= 0) {
    const code = text.charCodeAt(bad).toString(16).padStart(2, "0").toUpperCase();
    throw new AdminSyntaxError(`control character 0x${code} in the command line`);
  }
}

export function parseLine(text: string): ParsedLine {
  checkCharacters(text);
  const words: string[] = [];
  const params = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    if (isSpace(text[i])) {
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && !isSpace(text[i]) && text[i] !== "=" && text[i] !== '"') i++;
    const head = text.slice(start, i);
    if (text[i] === "=") {
      const { value, end } = readValue(text, i + 1, head);
      const key = head.toUpperCase();
      if (params.has(key)) throw new AdminSyntaxError(`parameter ${key} given twice`);
      params.set(key, value);
      i = end;
    } else if (text[i] === '"') {
      throw new AdminSyntaxError(
        head === ""
          ? 'quoted text must be the value of a parameter: KEY="value"'
          : `quote inside the word "${head}"; quote only parameter values: KEY="value"`,
      );
    } else {
      if (params.size > 0) {
        throw new AdminSyntaxError(
          `word "${head}" after the parameters; write the words first, then KEY=value parameters`,
        );
      }
      words.push(head.toUpperCase());
    }
  }
  return { words, params };
}

/** Reads the value of `key` starting at `pos` (just after "="). */
function readValue(text: string, pos: number, key: string): { value: string; end: number } {
  if (key === "") throw new AdminSyntaxError('parameter without a name before "="');
  if (!KEY.test(key)) {
    throw new AdminSyntaxError(
      `malformed parameter name "${key}": letters, digits, "_" and "-", starting with a letter`,
    );
  }
  const name = key.toUpperCase();
  if (text[pos] !== '"') {
    let end = pos;
    while (end < text.length && !isSpace(text[end])) {
      if (text[end] === '"') {
        throw new AdminSyntaxError(
          `quote in the middle of the value of ${name}; quote the whole value: ${name}="..."`,
        );
      }
      end++;
    }
    return { value: text.slice(pos, end), end };
  }
  let value = "";
  let i = pos + 1;
  for (;;) {
    if (i >= text.length) throw new AdminSyntaxError(`unterminated quoted value of ${name}`);
    const c = text[i];
    if (c === '"') break;
    if (c === "\\") {
      const next = text[i + 1];
      // SPEC §4: inside quotes only \" and \\ are escapes.
      if (next !== '"' && next !== "\\") {
        throw new AdminSyntaxError(
          `unknown escape "\\${next ?? ""}" in the value of ${name}; only \\" and \\\\ are escapes`,
        );
      }
      value += next;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  const end = i + 1;
  if (end < text.length && !isSpace(text[end])) {
    throw new AdminSyntaxError(`text after the closing quote of ${name}`);
  }
  return { value, end };
}

/**
 * Writes a parameter value so that parseLine reads it back unchanged: bare when it is
 * safe, else quoted with \" and \\ escapes. Used by the CLI client and for logs.
 */
export function quoteValue(value: string): string {
  if (value !== "" && !/[\s"\\]/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** Keys whose values are secrets: never logged (SPEC §4: passwords never). */
const SECRET_KEYS = new Set(["PASS", "PASSWORD", "OLD", "NEW"]);

/**
 * The line as it may appear in the log: LOGIN's password and the values of PASS=, OLD=
 * and NEW= are replaced by "***". Works on malformed lines too (it never parses).
 */
export function redactForLog(text: string): string {
  const { verb } = splitVerb(text);
  // Whatever follows these verbs is a password, however it is written.
  if (verb === "LOGIN" || verb === "PASSWORD") return `${verb} ***`;
  return text.replace(
    /(^|[ \t])([A-Za-z][A-Za-z0-9_-]*)=("(?:[^"\\]|\\.)*"?|[^ \t]*)/g,
    (whole, lead: string, key: string) =>
      SECRET_KEYS.has(key.toUpperCase()) ? `${lead}${key}=***` : whole,
  );
}
