// The one status line on stderr while a run is going: scenario, elapsed time, messages sent and
// delivered, and the current delivery rate. On a terminal it rewrites itself in place; in a log
// file it prints a plain line every few seconds instead of thousands of carriage returns.

const TTY_INTERVAL_MS = 250;
const LOG_INTERVAL_MS = 5_000;

export class ProgressLine {
  private label = "";
  private readonly startedAt = performance.now();
  private sent = 0;
  private delivered = 0;
  private rateSample = { at: performance.now(), delivered: 0 };
  private rate = 0;
  private lastPrint = 0;
  private readonly tty = process.stderr.isTTY === true;

  /** What is running now, e.g. "direct · msgr · closed loop". Counters restart with each stage. */
  stage(label: string): void {
    this.label = label;
    this.sent = 0;
    this.delivered = 0;
    this.rate = 0;
    this.rateSample = { at: performance.now(), delivered: 0 };
    this.print(true);
  }

  update(sent: number, delivered: number): void {
    this.sent = sent;
    this.delivered = delivered;
    const now = performance.now();
    // New generator processes start counting from zero: restart the rate sample with them.
    if (delivered < this.rateSample.delivered) this.rateSample = { at: now, delivered };
    if (now - this.rateSample.at >= 500) {
      this.rate = ((delivered - this.rateSample.delivered) * 1000) / (now - this.rateSample.at);
      this.rateSample = { at: now, delivered };
    }
    this.print(false);
  }

  /** Ends the line so the next output starts on a fresh one. */
  done(): void {
    if (this.tty) process.stderr.write("\n");
  }

  /** Prints a note above the progress line. */
  note(text: string): void {
    process.stderr.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    if (this.tty) this.print(true);
  }

  private print(force: boolean): void {
    if (!this.label) return;
    const now = performance.now();
    if (!force && now - this.lastPrint < (this.tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS)) return;
    this.lastPrint = now;
    const elapsed = ((now - this.startedAt) / 1000).toFixed(1);
    const line = `[${this.label}] ${elapsed}s  sent ${this.sent.toLocaleString("en-US")}  delivered ${this.delivered.toLocaleString("en-US")}  ${formatRate(this.rate)}/s`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }
}

function formatRate(r: number): string {
  return r >= 10_000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0);
}
