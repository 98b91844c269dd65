/**
 * A folder's flag names: system flags have fixed letters, keywords get the folder's
 * letters a-z in the order they were first used (dovecot-keywords, keywords_file.ts). The
 * file is shared with other Maildir software, so a name we do not know is looked up
 * on disk again before it gets a letter of its own.
 */
import { FLAG_LETTERS, LETTER_FLAGS, sortFlags } from "../maildir_names.ts";
import { readKeywords, writeKeywords } from "./keywords_file.ts";
import { withUidListLock } from "./uidlist.ts";

/** Thrown when a keyword cannot be stored (Maildir has 26 keyword letters per folder). */
export class FlagError extends Error {}

/** FETCH FLAGS texts kept, by letter set. */
const TEXT_CACHE = 4096;

export class KeywordTable {
  readonly #path: string;
  /** Keyword names by letter index (a = 0). */
  #names: string[] = [];
  #text = new Map<string, string>();

  constructor(folderPath: string) {
    this.#path = folderPath;
  }

  get names(): readonly string[] {
    return this.#names;
  }

  /** (Re)reads the folder's keywords. */
  async load(): Promise<void> {
    this.#names = await readKeywords(this.#path);
    this.#text.clear();
  }

  /** IMAP flag names of flag letters (system flags and keywords). */
  flagNames(letters: string): string[] {
    const out: string[] = [];
    for (const ch of letters) {
      if (ch >= "a" && ch <= "z") {
        const kw = this.#names[ch.charCodeAt(0) - 97];
        if (kw) out.push(kw);
      } else if (LETTER_FLAGS[ch]) out.push(LETTER_FLAGS[ch]);
    }
    return out;
  }

  /** flagNames as FETCH FLAGS text ("\Seen $Label1"), cached per letter set. */
  flagText(letters: string): string {
    let text = this.#text.get(letters);
    if (text === undefined) {
      text = this.flagNames(letters).join(" ");
      if (this.#text.size > TEXT_CACHE) this.#text.clear();
      this.#text.set(letters, text);
    }
    return text;
  }

  /** Whether the letters use a keyword letter we have no name for (another program's). */
  hasUnknown(letters: string): boolean {
    for (let i = letters.length - 1; i >= 0; i--) {
      const c = letters.charCodeAt(i);
      if (c < 97) return false; // sorted: lower-case letters come last
      if (!this.#names[c - 97]) return true;
    }
    return false;
  }

  /**
   * Letters for IMAP flag names, allocating keyword letters (durably) as needed. New
   * letters are chosen under the UID list's lock (as Dovecot requires for writing
   * dovecot-keywords) after reading the file again, so another process adding keywords
   * at the same time (an import, another server) cannot be given the same letter.
   */
  async lettersFor(names: readonly string[]): Promise<string> {
    let letters = "";
    const unknown: string[] = [];
    for (const name of names) {
      const system = Object.keys(FLAG_LETTERS).find((f) => f.toLowerCase() === name.toLowerCase());
      if (system) letters += FLAG_LETTERS[system];
      else if (name.startsWith("\\")) continue; // \Recent and unknown system flags are not stored
      else {
        const idx = this.#find(name);
        if (idx >= 0) letters += String.fromCharCode(97 + idx);
        else unknown.push(name);
      }
    }
    if (unknown.length > 0) {
      await withUidListLock(this.#path, async () => {
        const onDisk = await readKeywords(this.#path);
        if (onDisk.length >= this.#names.length) this.#names = onDisk;
        this.#text.clear();
        let added = false;
        for (const name of unknown) {
          let idx = this.#find(name);
          if (idx < 0) {
            idx = this.#names.length;
            if (idx >= 26) throw new FlagError("too many keywords in this mailbox (26 at most)");
            this.#names.push(name);
            added = true;
          }
          letters += String.fromCharCode(97 + idx);
        }
        if (added) await writeKeywords(this.#path, this.#names);
      });
    }
    return sortFlags(letters);
  }

  #find(name: string): number {
    const lower = name.toLowerCase();
    return this.#names.findIndex((k) => k?.toLowerCase() === lower);
  }
}
