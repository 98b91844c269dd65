/**
 * Splitting an mbox file into messages (RFC 4155 "application/mbox"; the mboxo, mboxrd
 * and mboxcl2 variants), over bytes pushed in chunks so that a large file is never held
 * in memory whole (one message at a time is).
 *
 * - Each message starts with a "From " line (the From_ line: envelope sender and date)
 *   and ends before the empty line that precedes the next From_ line (or at the end of
 *   the file; a last message ending in an empty line loses it, as writers add one).
 * - A "From " line inside a body starts a new message only when it follows an empty
 *   line or looks like a real From_ line (sender and asctime date): writers quote body
 *   lines as ">From ", and a stray unquoted one rarely has both.
 * - A message whose Content-Length header delimits it exactly (the next From_ line or
 *   the end of the file follows its body) is taken by that length and read as mboxcl2
 *   (as mutt writes): its body lines are not quoted, so ">From " stays as it is. Other
 *   messages are read as mboxrd (`>From ` lines lose one `>`, mbox_message.ts).
 *
 * Line endings may be LF or CRLF; bytes are passed on unchanged.
 */

const LF = 0x0a;
const CR = 0x0d;
const FROM_ = new TextEncoder().encode("From ");

/** One message as found in the file. */
export interface MboxEntry {
  /** The From_ line after "From " (sender and date), without its line ending. */
  fromLine: string;
  /** The message: headers and body, without the From_ line and the separating empty line. */
  raw: Uint8Array;
  /** Delimited by its Content-Length header (mboxcl2): no `>From` unquoting. */
  byLength: boolean;
}

/** Thrown when the data does not start like an mbox file. */
export class MboxFormatError extends Error {}

/** "From sender Www Mmm dd hh:mm[:ss] [zone] yyyy [zone]": a From_ line as writers make it. */
const STRICT_FROM =
  /^From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d\d(?::\d\d)?(?: +\S+)? +\d{4}/;

function startsWithFrom(buf: Uint8Array, at: number): boolean {
  if (at + FROM_.length > buf.length) return false;
  for (let i = 0; i < FROM_.length; i++) if (buf[at + i] !== FROM_[i]) return false;
  return true;
}

/** True when the line [start, end) is empty (a lone LF or CRLF). */
function isBlankLine(buf: Uint8Array, start: number, end: number): boolean {
  return end === start || (end === start + 1 && buf[start] === CR);
}

const latin1 = new TextDecoder("latin1");

/** Content-Length values above this are not trusted (the whole rest would be buffered). */
const MAX_TRUSTED_LENGTH = 256 * 1024 * 1024;

/** Splits mbox data pushed in chunks into messages. */
export class MboxSplitter {
  #buf = new Uint8Array(0);
  /** Bytes of #buf in use. */
  #len = 0;
  /** Where the current message's From_ line starts (-1: before the first one). */
  #msgStart = -1;
  /** Where its headers start (after the From_ line); -1 until that line is complete. */
  #headerStart = -1;
  #fromLine = "";
  /** Next line start to examine. */
  #scan = -1;
  /** The line before #scan was empty. */
  #prevBlank = false;
  /** Where the body starts (after the empty line); -1 until found. */
  #bodyStart = -1;
  /** Content-Length of the current message, when its headers have one. */
  #length: number | null = null;

  /** Adds data; returns the messages completed by it. */
  push(chunk: Uint8Array): MboxEntry[] {
    this.#append(chunk);
    return this.#take(false);
  }

  /** The end of the data: returns the last message. */
  end(): MboxEntry[] {
    return this.#take(true);
  }

  #append(chunk: Uint8Array): void {
    if (this.#len + chunk.length > this.#buf.length) {
      // What earlier messages used is dropped; the buffer grows only when still short.
      const keep = Math.max(this.#msgStart, 0);
      const used = this.#len - keep;
      if (used + chunk.length <= this.#buf.length) {
        this.#buf.copyWithin(0, keep, this.#len);
      } else {
        const next = new Uint8Array(Math.max(2 * (used + chunk.length), 1 << 16));
        next.set(this.#buf.subarray(keep, this.#len));
        this.#buf = next;
      }
      this.#len = used;
      if (this.#msgStart >= 0) this.#msgStart -= keep;
      if (this.#headerStart >= 0) this.#headerStart -= keep;
      if (this.#scan >= 0) this.#scan -= keep;
      if (this.#bodyStart >= 0) this.#bodyStart -= keep;
    }
    this.#buf.set(chunk, this.#len);
    this.#len += chunk.length;
  }

  #take(eof: boolean): MboxEntry[] {
    const out: MboxEntry[] = [];
    const buf = this.#buf.subarray(0, this.#len);
    if (this.#msgStart < 0 && !this.#findFirst(buf, eof)) return out;
    for (let entry = this.#next(buf, eof); entry; entry = this.#next(buf, eof)) out.push(entry);
    return out;
  }

  /** Skips leading empty lines; the data must then start with "From ". */
  #findFirst(buf: Uint8Array, eof: boolean): boolean {
    let at = 0;
    for (let nl = buf.indexOf(LF); nl >= 0 && isBlankLine(buf, at, nl); nl = buf.indexOf(LF, at)) {
      at = nl + 1;
    }
    if (buf.length - at < FROM_.length) {
      if (eof && buf.length > at) throw new MboxFormatError("does not start with a From line");
      return false;
    }
    if (!startsWithFrom(buf, at)) throw new MboxFormatError("does not start with a From line");
    this.#begin(at);
    return true;
  }

  #begin(at: number): void {
    this.#msgStart = at;
    this.#headerStart = -1;
    this.#scan = -1;
    this.#prevBlank = false;
    this.#bodyStart = -1;
    this.#length = null;
  }

  /** The current message if it is complete (then the next one is begun), else null. */
  #next(buf: Uint8Array, eof: boolean): MboxEntry | null {
    if (this.#msgStart >= buf.length) return null;
    if (this.#headerStart < 0) {
      const nl = buf.indexOf(LF, this.#msgStart);
      if (nl < 0 && !eof) return null;
      const lineEnd = nl < 0 ? buf.length : nl;
      this.#fromLine = latin1.decode(buf.subarray(this.#msgStart + FROM_.length, lineEnd))
        .replace(/\r$/, "");
      this.#headerStart = this.#scan = nl < 0 ? buf.length : nl + 1;
    }
    if (this.#bodyStart < 0 && !this.#readHeaders(buf, eof)) return null;
    if (this.#length !== null) {
      const end = this.#bodyStart + this.#length;
      const next = this.#lengthEnds(buf, end, eof);
      if (next === null) return null;
      if (next >= 0) return this.#finish(buf, end, next, true);
      this.#length = null; // it does not delimit the message: read lines instead
    }
    let at = this.#scan;
    while (at < buf.length) {
      const nl = buf.indexOf(LF, at);
      if (startsWithFrom(buf, at)) {
        if (this.#prevBlank) {
          return this.#finish(buf, dropBlankLine(buf, this.#headerStart, at), at, false);
        }
        if (nl < 0 && !eof) break; // the line may not be complete yet
        if (STRICT_FROM.test(latin1.decode(buf.subarray(at, nl < 0 ? buf.length : nl)))) {
          return this.#finish(buf, at, at, false);
        }
      }
      if (nl < 0) break;
      this.#prevBlank = isBlankLine(buf, at, nl);
      at = nl + 1;
    }
    this.#scan = at;
    if (!eof) return null;
    // The last message: up to the end, less one trailing empty line.
    let end = buf.length;
    if (end > this.#headerStart && buf[end - 1] === LF) {
      const lastLine = buf.lastIndexOf(LF, end - 2) + 1;
      if (lastLine >= this.#headerStart && isBlankLine(buf, lastLine, end - 1)) end = lastLine;
    }
    return this.#finish(buf, end, buf.length, false);
  }

  /** The message [headerStart, end); the next one begins at `next`. */
  #finish(buf: Uint8Array, end: number, next: number, byLength: boolean): MboxEntry {
    const entry = {
      fromLine: this.#fromLine,
      raw: buf.slice(this.#headerStart, Math.max(end, this.#headerStart)),
      byLength,
    };
    if (next >= buf.length) this.#msgStart = buf.length;
    else this.#begin(next);
    return entry;
  }

  /** Finds the empty line after the headers, and a Content-Length among them. */
  #readHeaders(buf: Uint8Array, eof: boolean): boolean {
    let at = this.#scan;
    while (true) {
      const nl = buf.indexOf(LF, at);
      if (nl < 0) {
        if (!eof) {
          this.#scan = at;
          return false;
        }
        break; // no empty line before the end: all of it is headers
      }
      if (isBlankLine(buf, at, nl)) {
        this.#bodyStart = this.#scan = nl + 1;
        this.#prevBlank = true;
        return true;
      }
      if (startsWithFrom(buf, at) && STRICT_FROM.test(latin1.decode(buf.subarray(at, nl)))) {
        break; // the next message, with no empty line before it: all of this is headers
      }
      if (nl - at > 15 && (buf[at] | 0x20) === 0x63) { // 'c': Content-Length?
        const m = /^content-length:[ \t]*(\d{1,12})[ \t]*\r?$/i.exec(
          latin1.decode(buf.subarray(at, nl)),
        );
        if (m && Number(m[1]) <= MAX_TRUSTED_LENGTH) this.#length = Number(m[1]);
      }
      at = nl + 1;
    }
    this.#bodyStart = this.#scan = at;
    this.#prevBlank = false;
    this.#length = null;
    return true;
  }

  /**
   * Whether a body ending at `end` is followed by the end of the data or a From_ line
   * (after an optional empty line): the position of the next From_ line (or the data's
   * length), -1 when the length does not fit, null when more data is needed.
   */
  #lengthEnds(buf: Uint8Array, end: number, eof: boolean): number | null {
    if (end > buf.length) return eof ? -1 : null;
    if (end > this.#bodyStart && buf[end - 1] !== LF) return -1;
    let at = end;
    // One empty line (the separator) may come first.
    if (at < buf.length && buf[at] === LF) at += 1;
    else if (at + 1 < buf.length && buf[at] === CR && buf[at + 1] === LF) at += 2;
    if (at >= buf.length) return eof ? buf.length : null;
    if (buf.length - at < FROM_.length) return eof ? -1 : null;
    return startsWithFrom(buf, at) ? at : -1;
  }
}

/** `end` minus the empty line just before it (LF or CRLF), not going below `floor`. */
function dropBlankLine(buf: Uint8Array, floor: number, end: number): number {
  if (end - 1 >= floor && buf[end - 1] === LF) {
    end -= 1;
    if (end - 1 >= floor && buf[end - 1] === CR) end -= 1;
  }
  return end;
}
