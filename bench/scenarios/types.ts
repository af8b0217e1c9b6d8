// Results as they are written to bench/results/<timestamp>-<scenario>.json and read by the report.

import type { ScenarioName } from "../lib/cli-args.ts";
import type { HistogramData, LatencySummary } from "../lib/histogram.ts";
import type { MachineInfo } from "../lib/machine.ts";
import type { ProfileName } from "../lib/profiles.ts";
import type { LoopFigures } from "./loop-summary.ts";

/** Latency by percentile, for the chart: [percentile, ms] pairs. */
export type PercentileCurve = [number, number][];

export interface DirectTarget {
  target: string;
  perMessage: string;
  rounds: { closed: LoopFigures; open?: LoopFigures; openHistogram?: HistogramData }[];
  closed: LoopFigures;
  open?: LoopFigures;
  /** Open-loop send-to-deliver latency, all rounds merged. */
  openCurve?: PercentileCurve;
}

export interface GroupTarget {
  target: string;
  rounds: { closed: LoopFigures; histogram: HistogramData }[];
  closed: LoopFigures;
  curve: PercentileCurve;
}

export interface ConnectionsFigures {
  requested: number;
  connected: number;
  failed: number;
  firstError?: string;
  instances: number;
  generators: number;
  /** Connections per second, from the first connect to the last. */
  connectRate: number;
  connectLatency: LatencySummary;
  /** Server CPU ms per 1,000 connects (authentication and session setup). */
  serverCpuPer1kConnects: number;
  /** Growth of the servers' RSS per connection, bytes. */
  serverRssPerConn: number;
  serverRssBaselineKiB: number;
  serverRssKiB: number;
  /** Server CPU while idle with heartbeats, as a share of one core. */
  idleServerCores: number;
  generatorRssPerConn: number;
  generatorCores: number;
  /** Cores other processes used while connecting and holding (the larger of the two). */
  otherCores: number;
}

export interface ConnectionsTarget {
  target: string;
  rounds: ConnectionsFigures[];
  figures: ConnectionsFigures;
}

export interface ResumeFigures {
  devices: number;
  missed: number;
  caughtUp: number;
  incomplete: number;
  timedOut: boolean;
  /** Reconnects that failed, and the first failure's message. */
  failed: number;
  firstError?: string;
  /** From the start of the storm until the last device's `synced`. */
  allCaughtUpMs: number;
  perDevice: LatencySummary;
  replayed: number;
  replayRate: number;
  serverCpuPer1k: number;
  generatorCores: number;
  otherCores: number;
}

export interface ResumeTarget {
  target: string;
  rounds: ResumeFigures[];
  figures: ResumeFigures;
}

/** What every result file records besides its scenario's figures. */
export interface ResultMeta {
  startedAt: string;
  profile: ProfileName;
  command: string;
  /** The msgr commit measured, noting uncommitted changes in src/. */
  revision: string;
  machine: MachineInfo;
  pinning: string;
  rounds: number;
}

interface Common extends ResultMeta {
  params: Record<string, number | string | boolean>;
  skipped: { target: string; reason: string }[];
}

export type ScenarioResult =
  | (Common & { scenario: "direct"; targets: DirectTarget[] })
  | (Common & { scenario: "group"; targets: GroupTarget[] })
  | (Common & { scenario: "connections"; targets: ConnectionsTarget[] })
  | (Common & { scenario: "resume"; targets: ResumeTarget[] });
