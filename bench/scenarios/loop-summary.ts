// One measured traffic phase (closed or open loop) reduced to the figures the report shows.

import type { TrafficResult } from "../generator/traffic.ts";
import type { LatencySummary } from "../lib/histogram.ts";
import type { Measured } from "./context.ts";

export interface LoopFigures {
  /** Deliveries per second over the phase. */
  throughput: number;
  /** Open loop: the offered rate, messages/s. */
  offeredRate?: number;
  /** Server CPU milliseconds per 1,000 deliveries. */
  serverCpuPer1k: number;
  /** Server CPU over the phase as a share of one core. */
  serverCores: number;
  /** Busiest generator's share of one core. */
  generatorCores: number;
  /** Cores other processes on the machine used meanwhile. */
  otherCores: number;
  sent: number;
  delivered: number;
  incomplete: number;
  sendErrors: number;
  deliver: LatencySummary;
  ack?: LatencySummary;
  sendLag?: LatencySummary;
}

export function loopFigures(m: Measured<TrafficResult>, offeredRate?: number): LoopFigures {
  const t = m.value;
  const f: LoopFigures = {
    throughput: t.elapsedMs > 0 ? (t.delivered * 1000) / t.elapsedMs : 0,
    serverCpuPer1k: t.delivered > 0 ? (m.server.totalMs * 1000) / t.delivered : Number.NaN,
    serverCores: m.server.wallMs > 0 ? m.server.totalMs / m.server.wallMs : 0,
    generatorCores: m.generator.maxCoreShare,
    otherCores: m.otherCores,
    sent: t.sent,
    delivered: t.delivered,
    incomplete: t.incomplete,
    sendErrors: t.sendErrors,
    deliver: t.deliver.summary,
  };
  if (offeredRate !== undefined) f.offeredRate = offeredRate;
  if (t.ack) f.ack = t.ack.summary;
  if (t.sendLag) f.sendLag = t.sendLag.summary;
  return f;
}
