// Failures of tests that span processes say what the processes did: a test made with
// `ClusterDiagnostics.test` fails with the test clients' connection losses and the end of every
// process's log appended to its error, and closes the clients it made when it ends, failed or
// not, so that a failure leaves no load (hundreds of connected devices) on the tests after it.

import { test } from "bun:test";
import type { Client } from "../../src/sdk/index.ts";

/** A process whose output the failure message shows. */
export interface LoggedProcess {
  output(): string;
}

/** How much of each process's log a failure message carries. */
const LOG_TAIL_CHARS = 4000;

export class ClusterDiagnostics {
  /** Every client tracked so far (the file closes them all after its last test). */
  readonly clients: Client[] = [];
  private readonly drops: string[] = [];

  /** `processes` is read at failure time: the processes a failed test ran against, by name. */
  constructor(private readonly processes: () => Record<string, LoggedProcess | undefined>) {}

  /** Closes `c` with the file, and with the test that made it when that test is a `test` below. */
  track(c: Client, device: string): Client {
    this.clients.push(c);
    c.on("disconnected", (d) => {
      // 1000 without a reconnect: the test closed it.
      if (d.code !== 1000 || d.willReconnect) this.drops.push(`${new Date().toISOString()} ${device}: ${d.code} ${d.reason} (reconnects: ${d.willReconnect})`);
    });
    return c;
  }

  /** Runs `body`; its error, if any, gains the connection losses and the end of every process's log. */
  async explain(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      const lost = this.drops.length ? this.drops.join("\n") : "none";
      let logs = "";
      for (const [name, p] of Object.entries(this.processes())) if (p) logs += `\n--- ${name} ---\n${p.output().slice(-LOG_TAIL_CHARS)}`;
      if (err instanceof Error) err.message += `\n--- client connection losses ---\n${lost}${logs}`;
      throw err;
    }
  }

  /** A bun test that runs `body` under `explain` and closes the clients it tracked when it ends. */
  test(name: string, body: () => Promise<void>, timeoutMs?: number): void {
    test(
      name,
      async () => {
        const first = this.clients.length;
        try {
          await this.explain(body);
        } finally {
          for (const c of this.clients.slice(first)) c.close();
        }
      },
      timeoutMs,
    );
  }
}
