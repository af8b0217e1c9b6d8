// Logs a recurring fault at most `perWindow` times per window and counts the rest, so a client
// that triggers the same fault in a loop cannot flood the log (or the disk under it).

import type { Logger } from "pino";
import type { Clock } from "./clock.ts";

export class ThrottledLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly level: "error" | "warn" = "error",
    private readonly perWindow = 20,
    private readonly windowMs = 60_000,
  ) {}

  log(fields: Record<string, unknown>, message: string): void {
    const now = this.clock.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.logger[this.level]({ suppressed: this.suppressed }, `${message}: more of these were not logged in the last window`);
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged < this.perWindow) {
      this.logged++;
      this.logger[this.level](fields, message);
    } else {
      this.suppressed++;
    }
  }
}
