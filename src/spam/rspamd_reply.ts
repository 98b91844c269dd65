/**
 * rspamd's answer to `POST /checkv2` (its JSON protocol, https://rspamd.com/doc/developers/protocol.html)
 * read into a `SpamVerdict`, and the header fields the server adds from it (SPEC §9). Pure
 * functions: no I/O, so every shape rspamd (or something pretending to be it) can send is
 * testable. Anything unexpected is a `RspamdReplyError`, which the caller treats like an
 * unreachable filter (SpamFilterFailure).
 *
 * Everything in the reply may carry text from the message (symbol options hold URLs,
 * addresses, subjects): what goes into a header field is reduced to printable ASCII,
 * bounded in length and folded (RFC 5322 §2.2.3), so no reply can split or forge a field.
 */
import { isAscii, replaceControls, toPrintableAscii } from "../message/controls.ts";
import { encodeUnstructured } from "../message/encoded_words.ts";
import { foldField } from "../message/fold.ts";

/** rspamd's actions (its `action` field), as it spells them. */
export const RSPAMD_ACTIONS = [
  "reject",
  "soft reject",
  "greylist",
  "add header",
  "rewrite subject",
  "no action",
] as const;
export type RspamdAction = typeof RSPAMD_ACTIONS[number];

export interface SpamSymbol {
  name: string;
  score: number;
  options: string[];
}

export interface SpamVerdict {
  action: RspamdAction;
  score: number;
  /** The score of the reject action (rspamd's `required_score`). */
  required: number;
  /** Symbols that fired, highest score first. */
  symbols: SpamSymbol[];
  /** The new Subject text (decoded) for `rewrite subject`, when rspamd gives one. */
  subject: string | null;
  /** rspamd's text for the SMTP reply (`messages.smtp_message`), when it gives one. */
  smtpMessage: string | null;
  /** Fields rspamd asks to add (`milter.add_headers`), name and unfolded value. */
  addHeaders: { name: string; value: string }[];
  /** Field names rspamd asks to remove (`milter.remove_headers`), lower-case. */
  removeHeaders: string[];
}

export class RspamdReplyError extends Error {}

/** Symbols and options kept per verdict: a header field stays a few lines long. */
const MAX_SYMBOLS = 64;
const MAX_OPTIONS = 5;
const MAX_OPTION_LENGTH = 64;
/** A field name: RFC 5322 §3.6.8 ftext, bounded. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function finite(x: unknown, what: string): number {
  if (typeof x !== "number" || !Number.isFinite(x)) {
    throw new RspamdReplyError(`rspamd reply: ${what} is not a number`);
  }
  return x;
}

/** Reads the JSON body of a /checkv2 reply. */
export function parseCheckReply(body: string): SpamVerdict {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new RspamdReplyError(`rspamd reply is not JSON: ${preview(body)}`);
  }
  if (!isRecord(json)) throw new RspamdReplyError("rspamd reply is not a JSON object");
  if (typeof json.error === "string") {
    throw new RspamdReplyError(`rspamd answered an error: ${preview(json.error)}`);
  }
  const action = RSPAMD_ACTIONS.find((a) => a === json.action);
  if (!action) {
    throw new RspamdReplyError(`rspamd reply: unknown action ${preview(String(json.action))}`);
  }
  const symbols: SpamSymbol[] = [];
  if (isRecord(json.symbols)) {
    for (const [key, raw] of Object.entries(json.symbols)) {
      if (!isRecord(raw)) continue;
      const score = typeof raw.score === "number" && Number.isFinite(raw.score) ? raw.score : 0;
      const options = Array.isArray(raw.options)
        ? raw.options.filter((o): o is string => typeof o === "string")
        : [];
      symbols.push({ name: typeof raw.name === "string" ? raw.name : key, score, options });
    }
  }
  // Highest first, then by name: the same reply always gives the same field.
  symbols.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const messages = isRecord(json.messages) ? json.messages : {};
  const milter = isRecord(json.milter) ? json.milter : {};
  return {
    action,
    score: finite(json.score, "score"),
    required: typeof json.required_score === "number" && Number.isFinite(json.required_score)
      ? json.required_score
      : 0,
    symbols,
    subject: typeof json.subject === "string" ? json.subject : null,
    smtpMessage: typeof messages.smtp_message === "string" ? messages.smtp_message : null,
    addHeaders: milterAdds(milter.add_headers),
    removeHeaders: isRecord(milter.remove_headers)
      ? Object.keys(milter.remove_headers).filter((n) => FIELD_NAME.test(n)).map((n) =>
        n.toLowerCase()
      )
      : [],
  };
}

/**
 * `milter.add_headers`: name -> value, where a value is a string, `{value, order}` or a
 * list of those (rspamd's milter_headers module writes all three).
 */
function milterAdds(raw: unknown): { name: string; value: string }[] {
  if (!isRecord(raw)) return [];
  const out: { name: string; value: string }[] = [];
  for (const [name, v] of Object.entries(raw)) {
    if (!FIELD_NAME.test(name)) continue;
    for (const item of Array.isArray(v) ? v : [v]) {
      const value = typeof item === "string"
        ? item
        : isRecord(item) && typeof item.value === "string"
        ? item.value
        : null;
      if (value !== null) out.push({ name, value });
    }
  }
  return out;
}

/** A short, printable excerpt of something rspamd sent, for error messages. */
function preview(text: string): string {
  const t = toPrintableAscii(text.slice(0, 80));
  return text.length > 80 ? `${t}...` : t;
}

/** Printable ASCII on one line: text from a reply made safe for a header field. */
function headerText(text: string, max: number): string {
  const t = toPrintableAscii(replaceControls(text, " ", true)).trim();
  return t.length > max ? `${t.slice(0, max)}...` : t;
}

/** Names of fields this server writes from a verdict (removed from incoming mail first). */
export const SPAM_FIELDS = ["x-spam", "x-spamd-result", "x-rspamd-score", "x-rspamd-action"];

/** Does this verdict send the message to the Junk folder (SPEC §9)? */
export function isJunk(v: SpamVerdict): boolean {
  return v.action === "add header" || v.action === "rewrite subject";
}

/**
 * The header fields for a delivered message, CRLF-terminated: `X-Spamd-Result` in the form
 * of rspamd's milter_headers module (`default: False [1.20 / 15.00]; SYMBOL(0.50)[opt]`),
 * `X-Rspamd-Score`, `X-Rspamd-Action`, `X-Spam: Yes` for Junk, then the fields rspamd asked
 * for (which replace ours of the same name).
 */
export function verdictFields(v: SpamVerdict): string {
  const asked = new Map<string, string[]>();
  for (const { name, value } of v.addHeaders) {
    const key = name.toLowerCase();
    asked.set(key, [...(asked.get(key) ?? []), `${name}: ${value}`]);
  }
  const fields: string[] = [];
  const put = (name: string, value: string) => {
    if (!asked.has(name.toLowerCase())) fields.push(foldField(name, value));
  };
  const symbols = v.symbols.slice(0, MAX_SYMBOLS).map((s) => {
    const options = s.options.slice(0, MAX_OPTIONS).map((o) => headerText(o, MAX_OPTION_LENGTH))
      .join(",");
    return ` ${headerText(s.name, 64)}(${s.score.toFixed(2)})${options ? `[${options}]` : ""}`;
  });
  const summary = `default: ${isJunk(v) || v.action === "reject" ? "True" : "False"} ` +
    `[${v.score.toFixed(2)} / ${v.required.toFixed(2)}]`;
  put("X-Spamd-Result", [summary, ...symbols].join(";"));
  put("X-Rspamd-Score", v.score.toFixed(2));
  put("X-Rspamd-Action", v.action);
  if (isJunk(v)) put("X-Spam", "Yes");
  for (const lines of asked.values()) {
    for (const line of lines) {
      const at = line.indexOf(":");
      fields.push(foldField(line.slice(0, at), headerText(line.slice(at + 2), 900)));
    }
  }
  return fields.map((f) => f + "\r\n").join("");
}

/**
 * The Subject field rspamd's `rewrite subject` asks for, or null. Text that is not ASCII
 * becomes RFC 2047 encoded words (rspamd gives the subject decoded).
 */
export function rewrittenSubject(v: SpamVerdict): string | null {
  if (v.action !== "rewrite subject" || v.subject === null) return null;
  const text = replaceControls(v.subject, " ", true).trim().slice(0, 900);
  return foldField("Subject", isAscii(text) ? text : encodeUnstructured(text)) + "\r\n";
}
