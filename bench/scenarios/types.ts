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
  /** Growth of the servers' RSS per connection opened after the warm-up, bytes. */
  serverRssPerConn: number;
  /** The servers' RSS after the warm-up, the baseline of serverRssPerConn. */
  serverRssBaselineKiB: number;
  /** Connections of the warm-up (they stay open), and the servers' RSS growth while they connected. */
  warmUpConnected: number;
  warmUpRssKiB: number;
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
  /** The first storm, of as many other devices, run before this one on the fresh server: what its JIT had not compiled yet, it paid for. */
  cold: { allCaughtUpMs: number; incomplete: number; failed: number; timedOut: boolean };
  /** Server CPU per 1k messages sent to the offline devices (the backlog), acks included. */
  offlineSendCpuPer1k: number;
  /** Whether the server had gone quiet before the measured storm began (bench/lib/quiet.ts). */
  settled: boolean;
  generatorCores: number;
  otherCores: number;
}

export interface ResumeTarget {
  target: string;
  rounds: ResumeFigures[];
  figures: ResumeFigures;
}

/** Raw JetStream publishes with the message log's stream settings: one chat message per JetStream message, so one per fsync. */
export interface RawLogFigures {
  streams: number;
  /** Publishes in flight. */
  window: number;
  published: number;
  elapsedMs: number;
  rate: number;
  logCpuPer1k: number;
}

/** Appends through the log-backed store in a closed loop (one in flight per conversation, their last seqs known): the path behind a sender's ack in cluster mode, at saturation. */
export interface FillFigures {
  messages: number;
  conversations: number;
  elapsedMs: number;
  /** Acknowledged appends per second. */
  rate: number;
  append: LatencySummary;
  /** Each conversation's first append, before the loop: its owner reads the conversation's last seq from the history store. */
  firstAppend: LatencySummary;
  /** Chat messages per JetStream message (envelope). */
  perEnvelope: number;
  /** CPU ms per 1,000 appends: nats-server, Cassandra (idle unless sends are marked resend), the bench process (the store's client side). */
  logCpuPer1k: number;
  storeCpuPer1k: number;
  benchCpuPer1k: number;
  otherCores: number;
}

/** Appends on a fixed schedule at a share of the fill's rate; latency from each append's scheduled time. */
export interface OpenLoopFigures {
  offeredRate: number;
  achievedRate: number;
  messages: number;
  append: LatencySummary;
  perEnvelope: number;
  otherCores: number;
}

/** One conversation appended to as fast as it goes, by one edge, and by two edges at once (one owns the shard, the other forwards to it). */
export interface HotConversationFigures {
  messages: number;
  /** Acked appends/s with one writer. */
  oneWriter: number;
  /** Acked appends/s with two edges appending half each at once. */
  twoWriters: number;
  /** Batches the second edge forwarded to the owner. */
  forwarded: number;
}

/** The store alone: the driver writing the rows the worker would write, one way of batching and concurrency. */
export interface CeilingProbe {
  /** "batch" (unlogged single-partition batches) or "statements" (one per row). */
  mode: "batch" | "statements";
  /** Requests in flight. */
  concurrency: number;
  messages: number;
  rate: number;
}

/** One drain of the whole log by the write-behind worker with its default settings. */
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
  /** CPU ms per 1,000 messages written: Cassandra, the worker (the bench process), nats-server. */
  storeCpuPer1k: number;
  workerCpuPer1k: number;
  logCpuPer1k: number;
  otherCores: number;
  storeErrors: number;
  /** Rows in the messages table afterwards (it was truncated before). */
  rowsStored: number;
  /** Envelopes the consumers still counted unacknowledged a while after the last write. */
  backlogLeft: number;
}

/** Everything one round of the durable scenario measured. */
export interface DurableRound {
  rawOne: RawLogFigures;
  rawSharded: RawLogFigures;
  fill: FillFigures;
  open: OpenLoopFigures;
  hot: HotConversationFigures;
  /** Probes by "mode-concurrency". */
  ceiling: Record<string, CeilingProbe>;
  /** The fastest probe's rate. */
  ceilingRate: number;
  drain: DrainFigures;
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
  | (Common & { scenario: "durable"; perRound: DurableRound[]; figures?: DurableRound });
