/**
 * The grammar of a FETCH body section (RFC 9051 §6.4.5, §9 section-spec): parsing
 * `1.2.HEADER.FIELDS (From To)` and the echo in the response. The bytes a section names
 * come from src/message/section.ts.
 */
import { hasControl } from "../../message/controls.ts";
import type { Section } from "../../message/section.ts";
import { astring } from "../wire.ts";

export type { Section, SectionText } from "../../message/section.ts";

/** Bad section syntax; the session answers BAD with this message. */
export class SectionError extends Error {}

const NUMBER = /^[1-9][0-9]{0,8}$/;

/**
 * Parses the text between `[` and `]` of a FETCH body section. Field names may be atoms
 * or quoted strings. Throws SectionError on bad syntax.
 */
export function parseSection(spec: string): Section {
  let rest = spec;
  const part: number[] = [];
  while (rest !== "") {
    const m = /^([0-9]+)(\.|$)/.exec(rest);
    if (!m) break;
    if (!NUMBER.test(m[1])) throw new SectionError(`bad part number "${m[1]}"`);
    part.push(Number(m[1]));
    rest = rest.slice(m[0].length);
    if (m[2] === "." && rest === "") throw new SectionError("section ends with a dot");
  }
  if (rest === "") return { part, text: "" };
  const upper = rest.toUpperCase();
  if (upper === "HEADER" || upper === "TEXT") return { part, text: upper };
  if (upper === "MIME") {
    if (part.length === 0) throw new SectionError("MIME needs a part number");
    return { part, text: "MIME" };
  }
  const m = /^HEADER\.FIELDS(\.NOT)? *\((.*)\)$/is.exec(rest);
  if (!m) throw new SectionError(`bad section "${spec}"`);
  const fields = parseFieldNames(m[2]);
  if (fields.length === 0) throw new SectionError("empty header field list");
  return { part, text: m[1] ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS", fields };
}

/** header-list: astrings separated by spaces (RFC 9051 header-fld-name). */
function parseFieldNames(s: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === " ") {
      i++;
      continue;
    }
    if (s[i] === '"') {
      let v = "";
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\") i++;
        v += s[i++] ?? "";
      }
      if (i >= s.length) throw new SectionError("unterminated quoted field name");
      i++;
      names.push(v);
      continue;
    }
    const start = i;
    while (i < s.length && s[i] !== " ") i++;
    const atom = s.slice(start, i);
    // ASTRING-CHAR: no atom-specials other than "]" (RFC 9051 §9).
    if (/[(){%*"\\]/.test(atom) || hasControl(atom)) {
      throw new SectionError(`bad header field name "${atom}"`);
    }
    names.push(atom);
  }
  return names;
}

/**
 * The section as the FETCH response names it: `1.2.HEADER.FIELDS (FROM TO)`. Field names
 * are upper-cased like Dovecot's, so clients that compare the echo literally match.
 */
export function formatSection(section: Section): string {
  const parts = section.part.join(".");
  let text: string = section.text;
  if (section.fields) {
    text += " (" + section.fields.map((f) => astring(f.toUpperCase())).join(" ") + ")";
  }
  return parts === "" ? text : text === "" ? parts : `${parts}.${text}`;
}
