/**
 * bench:peers' table: one row per figure, `figure | ours | peer | ratio` (ratio =
 * ours/peer, the median of each side's runs), and the headline line printed last.
 */
import type { Group } from "./loads.ts";

/** One cell of the table: a median with how many runs made it, or why there is none. */
export interface Cell {
  values: number[];
  planned: number;
  note?: string; // e.g. "k=90"
  failure?: string;
}

export interface Row {
  label: string;
  lowerBetter?: boolean;
  /** A figure about the run (idle CPU, a peak), not compared: no ratio. */
  noRatio?: boolean;
  ours: Cell;
  peer: Cell;
  /** How to print a value (default 1 decimal). */
  digits?: number;
  /** Cell text for the peer when it is an estimate. */
  peerPrefix?: string;
}

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmt(v: number, digits = 1): string {
  return v.toFixed(v !== 0 && Math.abs(v) < 1 && digits < 3 ? 3 : digits);
}

function cellText(c: Cell, digits?: number, prefix = ""): string {
  if (c.values.length === 0) {
    return c.failure ? `n/a (${c.failure})` : c.planned ? "n/a" : "-";
  }
  let s = prefix + fmt(median(c.values), digits);
  const notes: string[] = [];
  if (c.note) notes.push(c.note);
  if (c.planned && c.values.length < c.planned) notes.push(`${c.values.length}/${c.planned} runs`);
  if (notes.length) s += ` (${notes.join(", ")})`;
  return s;
}

function ratioOf(r: Row): number | undefined {
  if (r.noRatio || !r.ours.values.length || !r.peer.values.length) return undefined;
  const p = median(r.peer.values);
  return p > 0 ? median(r.ours.values) / p : undefined;
}

export class Table {
  readonly rows = new Map<string, Row>();

  /** The row of `key`, made on first use (in the order the table prints). */
  row(key: string, label: string, lowerBetter = false, digits?: number): Row {
    let r = this.rows.get(key);
    if (!r) {
      r = {
        label,
        lowerBetter,
        digits,
        ours: { values: [], planned: 0 },
        peer: { values: [], planned: 0 },
      };
      this.rows.set(key, r);
    }
    return r;
  }

  print(): void {
    const lines: string[][] = [["figure", "ours", "peer", "ratio"]];
    for (const r of this.rows.values()) {
      const ratio = ratioOf(r);
      lines.push([
        r.label,
        cellText(r.ours, r.digits),
        cellText(r.peer, r.digits, r.peerPrefix),
        ratio === undefined
          ? "-"
          : `${ratio.toFixed(2)}x${r.lowerBetter ? " (lower is better)" : ""}`,
      ]);
    }
    const widths = [0, 1, 2, 3].map((i) => Math.max(...lines.map((l) => l[i].length)));
    const out = lines.map((l) => l.map((c, i) => c.padEnd(widths[i])).join(" | ").trimEnd());
    out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("-|-"));
    console.log(out.join("\n"));
  }

  /** The one line to quote: each measured group's main ratio. */
  headline(want: (g: Group) => boolean): string {
    const parts: string[] = [];
    const ratioText = (key: string, name: string, peer: string) => {
      const r = this.rows.get(key);
      if (!r) return;
      const x = ratioOf(r);
      parts.push(x === undefined ? `${name} n/a` : `${name} ${x.toFixed(2)}x ${peer}`);
    };
    if (want("smtp")) ratioText("smtp-c4.rate", "smtp", "postfix");
    if (want("smtp")) ratioText("smtp-source-s4.rate", "smtp-source", "postfix");
    if (want("pop3")) ratioText("pop3.rate", "pop3", "dovecot");
    if (want("imap")) ratioText("imap.rate", "imap", "dovecot");
    if (want("idle")) {
      const r = this.rows.get("idle.per");
      if (r?.ours.values.length) {
        let s = `idle imap ${fmt(median(r.ours.values), 0)} KiB/session`;
        if (r.peer.values.length) s += ` (dovecot ${fmt(median(r.peer.values), 0)})`;
        parts.push(s);
      } else parts.push("idle imap n/a");
    }
    return `bench:peers: ${parts.join(", ") || "nothing measured"}`;
  }
}
