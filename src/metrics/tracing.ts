// OpenTelemetry traces of each message's stages, off by default (tracing.enabled). The spans are
// made where the stage latencies are measured (Metrics.observeStage), so the actors need no
// tracing code, and with tracing off the cost is one null check per stage: the OpenTelemetry SDK
// is not even loaded.
//
// One trace per message, across nodes, with no context carried in messages or bus events: the
// trace id and the root span id are derived from (conversation, seq), so every node that sees a
// stage of the message reports it into the same trace. The root span "msgr.message" runs from
// acceptance to durable (committed); "msgr.message.routed", ".delivered" and ".read" are its
// children, each from acceptance to that stage. Whether a message is traced is decided from the
// same hash, so all nodes sample the same messages.

import { createHash } from "node:crypto";
import type { Config } from "../config/config.ts";
import type { Stage } from "./metrics.ts";

export interface StageTracer {
  /** Reports that message (conv, seq), accepted at `sinceMs`, reached `stage` at `nowMs`. */
  stage(stage: Stage, sinceMs: number, nowMs: number, conv: string, seq: number): void;
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>;
}

export interface MessageTraceIds {
  /** 32 hex digits. */
  traceId: string;
  /** 16 hex digits: the root span's id. */
  rootSpanId: string;
  /** Uniform in [0, 1): compared with the sample ratio. */
  sample: number;
}

export function messageTraceIds(conv: string, seq: number): MessageTraceIds {
  const h = createHash("sha256").update(conv).update("\0").update(String(seq)).digest();
  return { traceId: h.toString("hex", 0, 16), rootSpanId: h.toString("hex", 16, 24), sample: h.readUInt32BE(24) / 2 ** 32 };
}

/** The tracer the config asks for, or null when tracing is off. */
export async function openTracing(tracing: Config["tracing"], nodeId: number): Promise<StageTracer | null> {
  if (!tracing.enabled || tracing.sampleRatio === 0) return null;
  const { OtlpStageTracer } = await import("./otlp-tracer.ts");
  return new OtlpStageTracer(tracing, nodeId);
}
