// Prometheus metrics of one node, served at /metrics. Each server instance owns a registry
// (tests run several servers in one process).

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { registerProcessMetrics } from "./process-metrics.ts";
import type { StageTracer } from "./tracing.ts";

/** Stages a message passes, each measured from acceptance (when the edge decoded the SEND). */
export type Stage = "durable" | "routed" | "delivered" | "read";

const STAGE_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One message in this many has its stage latencies observed (when tracing is off). */
export const STAGE_SAMPLE_EVERY = 8;

/**
 * A counter bumped on the hot path as a plain number (`n++`: no label hashing, no call) and
 * handed to Prometheus when it scrapes.
 */
export class HotCounter {
  n = 0;
  constructor(name: string, help: string, registers: Registry[]) {
    let reported = 0;
    const self = this;
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.inc(self.n - reported);
        reported = self.n;
      },
    });
  }
}

/** Sizes of what a node holds, read when Prometheus scrapes: keeping gauges current cost every connect a labelled set. */
export interface NodeCensus {
  connections(): number;
  userActors(): number;
  conversationActors(): number;
}

export class Metrics {
  readonly registry = new Registry();
  /** Set by the node; until then its gauges are not reported. */
  census: NodeCensus | null = null;
  readonly framesIn: HotCounter;
  readonly framesOut: HotCounter;
  readonly heartbeats: HotCounter;
  readonly messagesAccepted: HotCounter;
  readonly messagesDelivered: HotCounter;
  readonly messagesFannedOut: HotCounter;
  readonly errors: Counter<"code">;
  readonly disconnects: Counter<"code">;
  readonly upgradesRefused: Counter<"reason">;
  readonly stageLatency: Histogram<"stage">;
  readonly internalErrors: Counter<"where">;
  readonly pushes: Counter<"service" | "outcome">;

  constructor(withProcessMetrics = true) {
    const registers = [this.registry];
    if (withProcessMetrics) registerProcessMetrics(this.registry, "msgr_");
    const self = this;
    new Gauge({
      name: "msgr_connections",
      help: "Open WebSocket connections",
      registers,
      collect() {
        if (self.census) this.set(self.census.connections());
      },
    });
    this.framesIn = new HotCounter("msgr_frames_in_total", "Frames received from clients", registers);
    this.framesOut = new HotCounter("msgr_frames_out_total", "Frames sent to clients", registers);
    this.heartbeats = new HotCounter("msgr_heartbeats_total", "PING commands answered (a PING with id 0 is not); each is one frame of msgr_frames_in_total and one of msgr_frames_out_total", registers);
    this.messagesAccepted = new HotCounter("msgr_messages_accepted_total", "Messages made durable and acknowledged to the sender", registers);
    this.messagesDelivered = new HotCounter("msgr_messages_delivered_total", "Message pushes written to device sockets", registers);
    this.messagesFannedOut = new HotCounter(
      "msgr_messages_fanned_out_total",
      "Of msgr_messages_delivered_total, those written by the edge's native fan-out (conversations with three or more members on the node)",
      registers,
    );
    this.errors = new Counter({ name: "msgr_errors_total", help: "Error replies by protocol error code", labelNames: ["code"], registers });
    this.disconnects = new Counter({ name: "msgr_disconnects_total", help: "Connections closed by the server, by close code", labelNames: ["code"], registers });
    this.upgradesRefused = new Counter({ name: "msgr_upgrades_refused_total", help: "WebSocket upgrades refused, by reason (the refusal's code, e.g. token-unknown-key)", labelNames: ["reason"], registers });
    this.stageLatency = new Histogram({
      name: "msgr_message_stage_seconds",
      help: `Time from acceptance of a message to each later stage: durable (committed), routed (handed to the bus), delivered (device acknowledged), read (read marker reached it); one message in ${STAGE_SAMPLE_EVERY} is observed`,
      labelNames: ["stage"],
      buckets: STAGE_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({
      name: "msgr_actors",
      help: "Live actors by kind",
      labelNames: ["kind"],
      registers,
      collect() {
        const census = self.census;
        if (!census) return;
        this.set({ kind: "user" }, census.userActors());
        this.set({ kind: "conversation" }, census.conversationActors());
      },
    });
    this.internalErrors = new Counter({
      name: "msgr_internal_errors_total",
      help: "Faults in the server's own code contained at a boundary (a command, an HTTP route, a bus handler), by boundary",
      labelNames: ["where"],
      registers,
    });
    this.pushes = new Counter({
      name: "msgr_push_total",
      help: "Push attempts by service (webpush, apns, fcm) and outcome (sent; gone: token deleted; retry: backed off; failed: refused for our own configuration)",
      labelNames: ["service", "outcome"],
      registers,
    });
  }

  /** Per-stage children, resolved once: observing through a label set hashes it on every call. */
  private readonly stages = new Map<Stage, { observe(v: number): void }>();

  /** Set when tracing is on: every observed stage of a message also becomes a span. */
  tracer: StageTracer | null = null;

  /**
   * Whether message `seq` has its stages observed: one in STAGE_SAMPLE_EVERY (the first of a
   * conversation among them), or every one while tracing, which samples by its own ratio.
   */
  sampled(seq: number): boolean {
    return this.tracer !== null || seq % STAGE_SAMPLE_EVERY === 1;
  }

  /** Observes one stage of message (conv, seq), accepted at `sinceMs`; conv and seq name its trace. */
  observeStage(stage: Stage, sinceMs: number, nowMs = Date.now(), conv?: string, seq?: number): void {
    let h = this.stages.get(stage);
    if (!h) this.stages.set(stage, (h = this.stageLatency.labels({ stage })));
    h.observe(Math.max(0, nowMs - sinceMs) / 1000);
    if (this.tracer && conv !== undefined && seq !== undefined) this.tracer.stage(stage, sinceMs, nowMs, conv, seq);
  }
}
