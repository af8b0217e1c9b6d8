// Where each printed line of the terminal client is, so a line can be rewritten in place: a
// message's ticks change after it was printed (✓ stored, ✓✓ delivered, blue ✓✓ read) and they
// belong on that message's line. Pure bookkeeping (no terminal I/O), so it is unit-tested;
// chat.ts's Screen does the cursor movements it computes.

/** Visible width of a line: ANSI colour sequences take no columns. */
export function visibleWidth(text: string): number {
  return [...text.replace(/\x1b\[[0-9;]*m/g, "")].length;
}

/** Terminal rows a printed text takes at `cols` columns (an empty line still takes one; HELP has several). */
export function rowsOf(text: string, cols: number): number {
  let rows = 0;
  for (const line of text.split("\n")) rows += Math.max(1, Math.ceil(visibleWidth(line) / Math.max(1, cols)));
  return rows;
}

interface Entry {
  key: string | undefined;
  text: string;
}

/** How to reach a line: `up` rows from the first row below the scrollback; it spans `rows`. */
export interface LinePlace {
  up: number;
  rows: number;
}

export class Transcript {
  private readonly entries: Entry[] = [];

  /** Lines further back than this are assumed scrolled away. */
  constructor(private readonly keep = 500) {}

  add(text: string, key?: string): void {
    this.entries.push({ key, text });
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep);
  }

  /** The text last printed for `key` (the latest line with it), if any. */
  textOf(key: string): string | undefined {
    return this.find(key)?.text;
  }

  /**
   * Where the latest line with `key` is, if it is still on screen (`screenRows` rows, of which
   * `reservedRows` are below the scrollback: status and prompt) and `text` would take exactly as
   * many rows as what it replaces; null when it cannot be rewritten in place.
   */
  placeFor(key: string, text: string, cols: number, screenRows: number, reservedRows: number): LinePlace | null {
    let below = 0;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      const rows = rowsOf(e.text, cols);
      if (e.key === key) {
        if (rowsOf(text, cols) !== rows || below + rows + reservedRows > screenRows) return null;
        return { up: below + rows, rows };
      }
      below += rows;
    }
    return null;
  }

  /** Records that the latest line with `key` now shows `text`. */
  replace(key: string, text: string): void {
    const e = this.find(key);
    if (e) e.text = text;
  }

  private find(key: string): Entry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.key === key) return this.entries[i];
    return undefined;
  }
}
