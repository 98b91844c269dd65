/**
 * What an import reports (SPEC §11): on a terminal, one progress line on stderr that
 * updates in place (messages, bytes, rate, time left); at the end, the summary line on
 * stdout; problems on stderr, one line each, as they happen.
 */

/** Redraws at most this often. */
const REDRAW_MS = 250;

export interface Totals {
  /** Messages to go through, when known beforehand (Maildir). */
  messages?: number;
  /** Source bytes to read, when known beforehand (mbox files). */
  sourceBytes?: number;
}

function human(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The counts of one import and its progress line. */
export class ImportReport {
  imported = 0;
  bytes = 0;
  skipped = 0;
  errors = 0;
  /** Folders that received messages. */
  readonly folders = new Set<string>();
  #seen = 0;
  #sourceBytes = 0;
  #totals: Totals = {};
  readonly #started = performance.now();
  #drawnAt = 0;
  #drawn = false;
  readonly #terminal: boolean;
  readonly #encoder = new TextEncoder();

  constructor(terminal = Deno.stderr.isTerminal()) {
    this.#terminal = terminal;
  }

  setTotals(totals: Totals): void {
    this.#totals = totals;
  }

  /** A message was imported into `folder` (stored size `size`). */
  imported1(folder: string, size: number): void {
    this.imported++;
    this.bytes += size;
    this.folders.add(folder);
    this.#seen++;
  }

  present1(): void {
    this.skipped++;
    this.#seen++;
  }

  /** A problem: counted, and told on stderr (the progress line is redrawn after it). */
  error(what: string, why: unknown): void {
    this.errors++;
    this.#seen++;
    this.note(`${what}: ${why instanceof Error ? why.message : String(why)}`);
  }

  /** Tells the administrator something without counting an error. */
  note(text: string): void {
    this.#clear();
    console.error(`extremail import: ${text}`);
  }

  /** Source bytes read so far grew (mbox). */
  read(bytes: number): void {
    this.#sourceBytes += bytes;
    this.#maybeDraw();
  }

  /** After each batch: redraws the progress line when due. */
  tick(): void {
    this.#maybeDraw();
  }

  /** SPEC §11: the one summary line (F counts folders that received messages). */
  summary(): string {
    return `imported ${this.imported} messages (${this.bytes} bytes) into ${this.folders.size} ` +
      `folders, ${this.skipped} skipped as already present, ${this.errors} errors`;
  }

  /** Removes the progress line (before the summary). */
  finish(): void {
    this.#clear();
  }

  /** The progress line's text. */
  line(now = performance.now()): string {
    const secs = (now - this.#started) / 1000;
    const rate = secs > 0 ? this.#seen / secs : 0;
    const { messages, sourceBytes } = this.#totals;
    const count = this.#seen.toLocaleString("en") +
      (messages ? `/${messages.toLocaleString("en")}` : "");
    let text = `${count} messages, ${human(this.bytes)}, ` +
      `${Math.round(rate).toLocaleString("en")} msg/s`;
    let left: number | null = null;
    if (messages && rate > 0) left = (messages - this.#seen) / rate;
    else if (sourceBytes && this.#sourceBytes > 0) {
      left = secs * (sourceBytes - this.#sourceBytes) / this.#sourceBytes;
    }
    if (left !== null) text += `, ${duration(left)} left`;
    return text;
  }

  #maybeDraw(): void {
    if (!this.#terminal) return;
    const now = performance.now();
    if (now - this.#drawnAt < REDRAW_MS) return;
    this.#drawnAt = now;
    this.#write(`\r\x1b[K${this.line(now)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#write("\r\x1b[K");
    this.#drawn = false;
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
  }
}
