// The OpenTelemetry side of tracing.ts: spans made with the SDK and exported in batches over
// OTLP/HTTP. Loaded only when tracing is on.

import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOnSampler, BatchSpanProcessor, RandomIdGenerator, TracerProvider, type IdGenerator } from "@opentelemetry/sdk-trace";
import type { Config } from "../config/config.ts";
import type { Stage } from "./metrics.ts";
import { messageTraceIds, type StageTracer } from "./tracing.ts";

/**
 * Random ids, except for the root span of a message, whose ids are set just before it starts
 * (startSpan asks for them synchronously, so nothing can come in between).
 */
class PresetIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private traceId: string | undefined;
  private spanId: string | undefined;

  /** The ids the next root span gets (the SDK asks for each once, in an order of its own). */
  preset(traceId: string, spanId: string): void {
    this.traceId = traceId;
    this.spanId = spanId;
  }

  generateTraceId(): string {
    const id = this.traceId ?? this.random.generateTraceId();
    this.traceId = undefined;
    return id;
  }

  generateSpanId(): string {
    const id = this.spanId ?? this.random.generateSpanId();
    this.spanId = undefined;
    return id;
  }
}

export class OtlpStageTracer implements StageTracer {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly ids = new PresetIds();

  constructor(
    private readonly opts: Config["tracing"],
    nodeId: number,
  ) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": opts.serviceName, "service.instance.id": `node-${nodeId}` }),
      idGenerator: this.ids,
      // Sampling is decided per message in stage(), identically on every node.
      sampler: new AlwaysOnSampler(),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: opts.endpoint }), scheduledDelayMillis: 1000 })],
    });
    this.tracer = this.provider.getTracer("msgr");
  }

  stage(stage: Stage, sinceMs: number, nowMs: number, conv: string, seq: number): void {
    const { traceId, rootSpanId, sample } = messageTraceIds(conv, seq);
    if (sample >= this.opts.sampleRatio) return;
    const attributes = { "msgr.conv": conv, "msgr.seq": seq, "msgr.stage": stage };
    if (stage === "durable") {
      this.ids.preset(traceId, rootSpanId);
      this.tracer.startSpan("msgr.message", { kind: SpanKind.INTERNAL, startTime: sinceMs, attributes }, ROOT_CONTEXT).end(nowMs);
      return;
    }
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: rootSpanId, traceFlags: TraceFlags.SAMPLED });
    this.tracer.startSpan(`msgr.message.${stage}`, { kind: SpanKind.INTERNAL, startTime: sinceMs, attributes }, parent).end(nowMs);
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
