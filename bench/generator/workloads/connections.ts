// Idle connections: this generator's share of C authenticated connections, spread over the
// target's instances, left open with heartbeats running until the orchestrator says close. It may
// be asked to connect more than once (a warm-up, then the measured batch); all stay open.

import type { Adapter, Conn } from "../../adapters/types.ts";
import { LatencyHistogram } from "../../lib/histogram.ts";
import type { TargetAccess } from "../../targets/types.ts";
import { connectAll } from "../connect-all.ts";
import type { Counters, Workload } from "../protocol.ts";

export interface ConnectParams {
  /** Global index of this generator's first connection, and how many it opens. */
  from: number;
  count: number;
  concurrency: number;
}

export function connectionsWorkload(adapter: Adapter, access: TargetAccess, counters: Counters): Workload {
  const conns: (Conn | undefined)[] = [];
  return {
    steps: {
      async connect(p: ConnectParams) {
        const latency = new LatencyHistogram();
        const started = performance.now();
        const out = await connectAll(p.count, p.concurrency, async (i) => {
          const global = p.from + i;
          counters.sent++;
          const t = performance.now();
          const conn = await adapter.connect(`c${global}`, "bench", access.endpoints[global % access.endpoints.length]!);
          latency.recordMs(performance.now() - t);
          counters.delivered++;
          return conn;
        });
        for (const c of out.items) conns.push(c);
        return { connected: p.count - out.failed, failed: out.failed, firstError: out.firstError, elapsedMs: performance.now() - started, latency: latency.toData() };
      },
      async close() {
        for (const c of conns) c?.close();
        conns.length = 0;
        return {};
      },
    },
  };
}
