/**
 * The messages a search evaluates its keys on (search_eval.ts SearchMessage): one of the
 * view, its content read only when a key asks (SUBJECT from the folder's stored keys or
 * subject column, BODY/TEXT from the full-text index's answers where it has them), and
 * those answers looked up once per search (textAnswers). Split from search.ts.
 */
import { headerValues, messageText } from "../message/body_text.ts";
import { fieldValue, forEachField } from "../message/header.ts";
import { parseDate } from "../message/date.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import type { FullTextIndex, TextAnswer } from "../store/fts/fts.ts";
import { addressForms } from "./message_keys.ts";
import { MessageData } from "./msgcache.ts";
import { nextTurn, turnSpent } from "../net/turns.ts";
import { objectIdOf } from "./objectid.ts";
import { fold, type Node, type SearchMessage } from "./search_eval.ts";
import type { FolderKeys } from "./sort_index.ts";
import type { SubjectAnswers } from "./subject_column.ts";
import type { MailboxView } from "./view.ts";

/** One message of the view, its content loaded only when a key asks. */
export class ViewMessage implements SearchMessage {
  #data: MessageData | null = null;
  #text: Partial<Record<"BODY" | "TEXT", string>> = {};
  #entry: MessageEntry | null;

  constructor(
    readonly folder: Folder,
    /** Null: looked up in `view` on first use (a search the subject column answers). */
    entry: MessageEntry | null,
    public seq: number,
    public uid: number,
    public recent: boolean,
    /** The folder's message keys (SUBJECT is answered from them), when the search needs them. */
    readonly keys: FolderKeys | null = null,
    /** The full-text index's answers to the BODY/TEXT keys (textAnswers). */
    readonly answers: TextAnswers | null = null,
    /** The subject column's answers to SUBJECT keys. */
    readonly subjects: SubjectAnswers | null = null,
    readonly view: MailboxView | null = null,
  ) {
    this.#entry = entry;
  }

  /** The message's entry; one expunged since the search began is NotFound. */
  get entry(): MessageEntry {
    const e = this.#entry ??= this.view?.entryAt(this.seq - 1) ?? null;
    if (e === null) throw new Deno.errors.NotFound(`message ${this.uid} is gone`);
    return e;
  }

  headerMatch(field: string, needle: string): boolean | undefined {
    return field === "subject" ? this.subjects?.decide(this.uid, needle) : undefined;
  }

  textMatch(which: "BODY" | "TEXT", needle: string): boolean | undefined {
    // By the compiled key's own strings: their hashes are computed once, not per message.
    return this.answers?.[which].get(needle)?.decide(this.uid);
  }

  /**
   * Points this object at another message: flag, number and sequence keys (synchronous,
   * nothing cached) need no object per message on a 100,000-message search.
   */
  moveTo(entry: MessageEntry | null, seq: number, uid: number, recent: boolean): this {
    this.#entry = entry;
    this.seq = seq;
    this.uid = uid;
    this.recent = recent;
    this.#data = null;
    return this;
  }

  get #msg(): MessageData {
    return this.#data ??= new MessageData(this.folder, this.entry);
  }

  get flags(): string {
    return this.entry.flags;
  }

  get size(): number {
    return this.#msg.size;
  }

  get modseq(): bigint {
    return BigInt(this.entry.modseq);
  }

  internalDate(): number | Promise<number> {
    return this.entry.internalDate ?? this.folder.internalDate(this.entry);
  }

  saveDate(): number {
    return this.folder.saveDate(this.entry);
  }

  header(field: string): string[] | Promise<string[]> {
    if (field !== "subject" || !this.keys) return this.#header(field);
    // Computed (and stored) on first need: the file is read once, as #header would.
    return this.keys.peek(this.entry)?.subjects ??
      this.keys.get(this.entry).then((k) => k.subjects);
  }

  foldedHeader(field: string): string[] | Promise<string[]> | null {
    if (field !== "subject" || !this.keys) return null;
    const keys = this.keys;
    try {
      const known = keys.peek(this.entry); // in memory once SORT or THREAD loaded them
      if (known) return known.subjectsFolded ??= known.subjects.map(fold);
    } catch (e) {
      return Promise.reject(e); // expunged meanwhile
    }
    return (async () => {
      const k = keys.peek(this.entry) ?? await keys.get(this.entry);
      return k.subjectsFolded ??= k.subjects.map(fold);
    })();
  }

  async #header(field: string): Promise<string[]> {
    const bytes = await this.#msg.headerBytes();
    return headerValues(bytes, await this.#msg.structure(), field);
  }

  objectId(which: "emailId" | "threadId"): Promise<string> {
    return objectIdOf(this.folder, this.entry, which);
  }

  async addresses(field: string): Promise<string[]> {
    const bytes = await this.#msg.headerBytes();
    const root = (await this.#msg.structure()).root;
    const raw: string[] = [];
    forEachField(bytes, root.headerStart, root.bodyStart, (f) => {
      if (f.name === field) raw.push(fieldValue(bytes, f));
    }, "skip");
    return addressForms(raw);
  }

  async sentDay(): Promise<number | null> {
    const values = await this.#header("date");
    return values.length ? parseDate(values[0])?.day ?? null : null;
  }

  async text(which: "BODY" | "TEXT"): Promise<string> {
    const hit = this.#text[which];
    if (hit !== undefined) return hit;
    // SPEC §7: a search reads up to 8 messages at once (search.ts PARALLEL), and their
    // reads tend to end in one turn; parsing them all and extracting their text then
    // (150 KB messages with a 64 KB folded header: several ms each, and the garbage they
    // leave) held the loop for 80-127 ms (bench hostile, search-html). Each message's
    // parse and extraction take their share of the turn's budget.
    const bytes = await this.#msg.bytes(true);
    const structure = await this.#msg.structure();
    if (turnSpent()) await nextTurn();
    return this.#text[which] = fold(messageText(bytes, structure, which));
  }
}

/** The full-text index's answers by key and folded string. */
export type TextAnswers = Record<"BODY" | "TEXT", Map<string, TextAnswer>>;

/**
 * The full-text index's answers to every BODY/TEXT key of `node` (each looked up once),
 * or null without an index; keys it cannot answer are left out (they scan).
 */
export async function textAnswers(
  fullText: FullTextIndex | null,
  folder: Folder,
  node: Node,
): Promise<TextAnswers | null> {
  if (!fullText) return null;
  const keys: { which: "BODY" | "TEXT"; needle: string }[] = [];
  const walk = (n: Node): void => {
    if (n.op === "text") keys.push(n);
    else if (n.op === "not") walk(n.node);
    else if (n.op === "or") [n.a, n.b].forEach(walk);
    else if (n.op === "and") n.nodes.forEach(walk);
  };
  walk(node);
  if (keys.length === 0) return null;
  const answers: TextAnswers = { BODY: new Map(), TEXT: new Map() };
  for (const { which, needle } of keys) {
    if (answers[which].has(needle)) continue;
    const a = await fullText.lookup(folder, which, needle);
    if (a) answers[which].set(needle, a);
  }
  return answers;
}
