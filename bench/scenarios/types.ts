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

/** The durable scenario's ways of writing the log into the store. */
export type DurableVariantName = "batch" | "concurrent" | "one-at-a-time";

/** Filling the log through the log-backed store: the path behind a sender's ack in cluster mode. */
export interface FillFigures {
  messages: number;
  conversations: number;
  elapsedMs: number;
  /** Acknowledged appends per second. */
  rate: number;
  append: LatencySummary;
  /** CPU ms per 1,000 appends: nats-server, Cassandra (idle unless sends are marked resend), the bench process (the store's client side). */
  logCpuPer1k: number;
  storeCpuPer1k: number;
  benchCpuPer1k: number;
  otherCores: number;
}

/** One conversation appended to as fast as the fence allows, by one writer and by two racing ones (two edges). */
export interface HotConversationFigures {
  messages: number;
  /** Acked appends/s with one writer. */
  oneWriter: number;
  /** Acked appends/s with two writers appending half each at once. */
  twoWriters: number;
  /** Publishes the fence refused (another writer got there first), as a share of the two writers' appends. */
  conflictShare: number;
}

/** One drain of the log by a write-behind worker. */
export interface DrainFigures {
  written: number;
  /** Stopped at its time limit before the log was drained. */
  capped: boolean;
  /** From the worker's start to its last store write. */
  elapsedMs: number;
  /** Messages written to the store per second. */
  rate: number;
  /** Store writes (worker batches). */
  writes: number;
  /** Time for the store to confirm one write. */
  write: LatencySummary;
  batchMean: number;
  /** Share of writes that carried a full batch. */
  fullBatches: number;
  /** Share of writes that carried at least half a batch but not a full one. */
  halfBatches: number;
  /** CPU ms per 1,000 messages written: Cassandra, the worker (the bench process), nats-server. */
  storeCpuPer1k: number;
  workerCpuPer1k: number;
  logCpuPer1k: number;
  otherCores: number;
  storeErrors: number;
  /** Rows in the messages table afterwards (it was truncated before). */
  rowsStored: number;
  /** Entries the consumer still counted unacknowledged a while after the last write. */
  backlogLeft: number;
}

export interface DurableVariant {
  variant: DurableVariantName;
  writeMode: "batch" | "concurrent";
  batchSize: number;
  /** batchSizes: [entries per write, writes] pairs. */
  rounds: { figures: DrainFigures; write: HistogramData; batchSizes: [number, number][] }[];
  figures: DrainFigures;
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
  | (Common & { scenario: "resume"; targets: ResumeTarget[] })
  | (Common & { scenario: "durable"; fill?: FillFigures; variants: DurableVariant[]; hot?: HotConversationFigures });
