// OpenTelemetry traces of a message's stages, exported over OTLP/HTTP to a receiver the test runs:
// one trace per message whose id every node derives alike, a root span from acceptance to durable,
// and child spans for routed, delivered and read. Off by default, at no cost: nothing is loaded.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { messageTraceIds } from "../../src/metrics/tracing.ts";
import { startHarness, until, type Harness } from "../helpers/harness.ts";

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  resource: Record<string, unknown>;
}

/** An OTLP/HTTP receiver (JSON encoding, as the exporter sends it) that keeps every span. */
function startReceiver() {
  const spans: Span[] = [];
  const contentTypes: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces") return new Response(null, { status: 404 });
      contentTypes.push(req.headers.get("content-type") ?? "");
      const body = (await req.json()) as { resourceSpans: { resource: { attributes: Span["attributes"] }; scopeSpans: { spans: Omit<Span, "resource">[] }[] }[] };
      for (const rs of body.resourceSpans) {
        const resource = Object.fromEntries(rs.resource.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, resource });
      }
      return Response.json({});
    },
  });
  return { url: `http://127.0.0.1:${server.port}/v1/traces`, spans, contentTypes, stop: () => server.stop(true) };
}

const attr = (s: Span, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe("tracing", () => {
  let receiver: ReturnType<typeof startReceiver>;
  let h: Harness;
  beforeAll(async () => {
    receiver = startReceiver();
    h = await startHarness({ server: { nodeId: 7 }, tracing: { enabled: true, endpoint: receiver.url } });
  });
  afterAll(async () => {
    await h.stop();
    receiver.stop();
  });

  test("a message's stages reach the collector as one trace: durable (root), routed, delivered, read", async () => {
    const alice = await h.client("t-alice");
    const bob = await h.client("t-bob");
    const conv = await alice.openDirect("t-bob");
    const { seq } = await alice.send(conv.id, "traced");
    await bob.markDelivered(conv.id, seq);
    await bob.markRead(conv.id, seq);

    const { traceId, rootSpanId } = messageTraceIds(conv.id, seq);
    const names = () => receiver.spans.filter((s) => s.traceId === traceId).map((s) => s.name).sort();
    await until(() => ["msgr.message", "msgr.message.delivered", "msgr.message.read", "msgr.message.routed"].every((n) => names().includes(n)), 20_000, "the message's spans");

    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const root = spans.find((s) => s.name === "msgr.message")!;
    expect(root.spanId).toBe(rootSpanId);
    expect(root.parentSpanId ?? "").toBe("");
    expect(attr(root, "msgr.stage")).toBe("durable");
    for (const s of spans) {
      expect(attr(s, "msgr.conv")).toBe(conv.id);
      expect(Number(attr(s, "msgr.seq"))).toBe(seq);
      // Every stage is measured from the same instant: the message's acceptance.
      expect(s.startTimeUnixNano).toBe(root.startTimeUnixNano);
      expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
      expect(s.resource).toMatchObject({ "service.name": "msgr", "service.instance.id": "node-7" });
      if (s !== root) expect(s.parentSpanId).toBe(rootSpanId);
    }
    expect(receiver.contentTypes.every((t) => t.startsWith("application/json"))).toBe(true);
  });
});

describe("tracing off (the default)", () => {
  test("no tracer exists and the OpenTelemetry SDK and exporter are not even loaded", () => {
    // A process of its own: this one has loaded the SDK for the tests above.
    const run = Bun.spawnSync([process.execPath, join(import.meta.dir, "untraced-server.ts")], { stdout: "pipe", stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(JSON.parse(run.stdout.toString())).toEqual({ tracer: null, loaded: [] });
  });

  test("sampling is decided per message, identically everywhere", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => messageTraceIds("c-sample", i + 1));
    expect(messageTraceIds("c-sample", 5)).toEqual(ids[4]!);
    const share = ids.filter((x) => x.sample < 0.25).length / ids.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect(new Set(ids.map((x) => x.traceId)).size).toBe(ids.length);
  });
});
