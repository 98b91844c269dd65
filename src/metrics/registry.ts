/**
 * A small metrics registry: counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). One Registry is made at
 * start-up and handed to whoever records; nothing registers itself at import time.
 *
 * Labels are given as an object (`{ service: "smtp" }`); every series declares its label
 * names, and a sample with other names is a programming error (thrown at once).
 */

export type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  render(out: string[]): void;
}

/** Text format 0.0.4: label values escape backslash, double quote and newline. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and newline (not quotes). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go-style float text: integers without a fraction, +Inf/-Inf/NaN spelled as Prometheus does. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Values per label combination, keyed by the joined label values. */
abstract class Series<T> implements Family {
  abstract readonly type: "counter" | "gauge" | "histogram";
  readonly #cells = new Map<string, { values: string[]; cell: T }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
    for (const l of labelNames) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le") {
        throw new Error(`bad label name ${l} in ${name}`);
      }
    }
  }

  /** Subclasses call this last: a series without labels shows 0 from the start. */
  protected init(): void {
    if (this.labelNames.length === 0) this.touch();
  }

  protected abstract newCell(): T;

  protected cell(labels: Labels | undefined): T {
    const given = labels ?? {};
    const values = this.labelNames.map((n) => {
      const v = given[n];
      if (v === undefined) throw new Error(`${this.name} needs the label ${n}`);
      return v;
    });
    if (Object.keys(given).length !== this.labelNames.length) {
      throw new Error(`${this.name} takes the labels ${this.labelNames.join(", ") || "none"}`);
    }
    const key = values.join("\u0000");
    let entry = this.#cells.get(key);
    if (!entry) {
      entry = { values, cell: this.newCell() };
      this.#cells.set(key, entry);
    }
    return entry.cell;
  }

  /** Makes the series exist with 0, so dashboards see it before the first event. */
  touch(labels?: Labels): void {
    this.cell(labels);
  }

  protected entries(): { values: string[]; cell: T }[] {
    return [...this.#cells.values()];
  }

  abstract render(out: string[]): void;
}

/** A value that only goes up (per process). Names end in `_total`. */
export class Counter extends Series<{ value: number }> {
  readonly type = "counter";

  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames);
    this.init();
  }

  protected newCell() {
    return { value: 0 };
  }

  /** Adds `by` (default 1; never negative). */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter cannot go down (${by})`);
    this.cell(labels).value += by;
  }

  get(labels?: Labels): number {
    return this.cell(labels).value;
  }

  /** inc() of one label set, looked up once (for a count made per connection). */
  bound(labels?: Labels): (by?: number) => void {
    const cell = this.cell(labels);
    return (by = 1) => void (cell.value += by);
  }

  render(out: string[]): void {
    for (const { values, cell } of this.entries()) {
      out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(cell.value)}`);
    }
  }
}

/** A value that goes up and down, set as events happen or read at scrape time. */
export class Gauge extends Series<{ value: number }> {
  readonly type = "gauge";

  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames);
    this.init();
  }

  protected newCell() {
    return { value: 0 };
  }

  set(value: number, labels?: Labels): void {
    this.cell(labels).value = value;
  }

  inc(labels?: Labels, by = 1): void {
    this.cell(labels).value += by;
  }

  dec(labels?: Labels, by = 1): void {
    this.cell(labels).value -= by;
  }

  /** inc() and dec() of one label set, looked up once (for a count made per connection). */
  bound(labels?: Labels): { inc: () => void; dec: () => void } {
    const cell = this.cell(labels);
    return { inc: () => void cell.value++, dec: () => void cell.value-- };
  }

  get(labels?: Labels): number {
    return this.cell(labels).value;
  }

  render(out: string[]): void {
    for (const { values, cell } of this.entries()) {
      out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(cell.value)}`);
    }
  }
}

interface HistogramCell {
  /** Observations per bucket (not cumulative; summed when rendered). */
  buckets: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative `le` buckets, with _sum and _count. */
export class Histogram extends Series<HistogramCell> {
  readonly type = "histogram";
  readonly bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[], labelNames: string[] = []) {
    super(name, help, labelNames);
    const sorted = [...bounds].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => i > 0 && b === sorted[i - 1])) {
      throw new Error(`${name}: buckets must be distinct and not empty`);
    }
    this.bounds = sorted.filter((b) => b !== Infinity);
    this.init();
  }

  protected newCell(): HistogramCell {
    return { buckets: new Array(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  /** Records `value` `times` times (a message delivered to several mailboxes at once). */
  observe(value: number, labels?: Labels, times = 1): void {
    this.#record(this.cell(labels), value, times);
  }

  /** observe() of one label combination, looked up once (a series fed per message). */
  bound(labels?: Labels): (value: number, times?: number) => void {
    const cell = this.cell(labels);
    return (value, times = 1) => this.#record(cell, value, times);
  }

  #record(cell: HistogramCell, value: number, times: number): void {
    let i = this.bounds.findIndex((b) => value <= b);
    if (i < 0) i = this.bounds.length;
    cell.buckets[i] += times;
    cell.sum += value * times;
    cell.count += times;
  }

  /** count and sum of one label combination (tests). */
  get(labels?: Labels): { count: number; sum: number } {
    const { count, sum } = this.cell(labels);
    return { count, sum };
  }

  render(out: string[]): void {
    for (const { values, cell } of this.entries()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += cell.buckets[i];
        const le = `le="${formatNumber(bound)}"`;
        out.push(`${this.name}_bucket${labelText(this.labelNames, values, le)} ${cumulative}`);
      });
      out.push(
        `${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${cell.count}`,
      );
      out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatNumber(cell.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, values)} ${cell.count}`);
    }
  }
}

export class Registry {
  readonly #families = new Map<string, Family>();
  readonly #collectors: (() => void)[] = [];

  #add<T extends Family>(family: T): T {
    if (this.#families.has(family.name)) throw new Error(`metric ${family.name} exists twice`);
    this.#families.set(family.name, family);
    return family;
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, bounds: number[], labelNames: string[] = []): Histogram {
    return this.#add(new Histogram(name, help, bounds, labelNames));
  }

  /** `collect` runs before every rendering, to set gauges read from live state. */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  /** The whole registry in the text format; ends with a newline. */
  render(): string {
    for (const collect of this.#collectors) collect();
    const out: string[] = [];
    for (const family of this.#families.values()) {
      // A counter's family name in HELP/TYPE keeps its _total suffix (format 0.0.4).
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
      out.push(`# TYPE ${family.name} ${family.type}`);
      family.render(out);
    }
    return out.join("\n") + "\n";
  }
}

/** The content type of the text format (Prometheus scrapes it as version 0.0.4). */
export const TEXT_FORMAT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
