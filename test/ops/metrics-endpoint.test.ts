// /metrics: on the main listener by default, on a listener of its own with metrics.listen (and
// then not on the main one), behind a bearer token with metrics.token; and process metrics that
// are right under Bun (none of prom-client's Node defaults: Node's version, a heap of tens of GB).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { totalmem } from "node:os";
import { Registry } from "prom-client";
import { registerProcessMetrics } from "../../src/metrics/process-metrics.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { encodeCommand } from "../../src/proto/codec.ts";
import { Method } from "../../src/proto/codes.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { RawConn } from "../security/ws.ts";
import { until } from "../helpers/wait.ts";

const loadedAt = Date.now() / 1000;

/** Samples of a Prometheus text exposition: "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("process metrics under Bun", () => {
  test("report the runtime, memory, CPU and descriptors as Bun has them, and nothing of Node's", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry, "t_");
    const cpuBefore = process.cpuUsage();
    const text = await registry.metrics();
    const cpuAfter = process.cpuUsage();
    const s = samples(text);

    expect(text).not.toContain("nodejs_");
    expect(text).not.toContain("virtual_memory");
    expect(text).not.toContain("process_heap_bytes");
    expect(s.get(`t_runtime_info{runtime="bun",version="${Bun.version}"}`)).toBe(1);

    const rss = s.get("t_process_resident_memory_bytes")!;
    expect(rss).toBeGreaterThan(1 << 20);
    expect(rss).toBeLessThan(totalmem());
    for (const name of ["t_heap_used_bytes", "t_heap_size_bytes"]) {
      expect(s.get(name)!).toBeGreaterThan(0);
      expect(s.get(name)!).toBeLessThan(rss);
    }
    const cpu = s.get("t_process_cpu_seconds_total")!;
    expect(cpu).toBeGreaterThanOrEqual((cpuBefore.user + cpuBefore.system) / 1e6);
    expect(cpu).toBeLessThanOrEqual((cpuAfter.user + cpuAfter.system) / 1e6);
    // Read one after the other, in this order: the parts cannot exceed the total read last.
    expect(s.get("t_process_cpu_user_seconds_total")! + s.get("t_process_cpu_system_seconds_total")!).toBeLessThanOrEqual(cpu);
    const start = s.get("t_process_start_time_seconds")!;
    expect(start).toBeLessThanOrEqual(loadedAt + 1);
    expect(start).toBeGreaterThan(loadedAt - 3600);
    expect(s.get("t_process_open_fds")!).toBeGreaterThan(2);
    expect(s.get("t_process_max_fds")!).toBeGreaterThanOrEqual(s.get("t_process_open_fds")!);
    for (const q of ["0.5", "0.99", "1"]) expect(s.get(`t_event_loop_delay_seconds{quantile="${q}"}`)).toBeGreaterThanOrEqual(0);
  });

  test("the worker's registry has the same process metrics under its own prefix", async () => {
    const text = await new WorkerMetrics(async () => 0).registry.metrics();
    expect(text).toContain("msgr_worker_process_resident_memory_bytes");
    expect(text).toContain(`msgr_worker_runtime_info{runtime="bun",version="${Bun.version}"} 1`);
    expect(text).not.toContain("nodejs_");
    expect(text).not.toContain("virtual_memory");
  });
});

describe("/metrics on the main listener (the built-in default)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ metrics: { token: "scrape-secret" } });
  });
  afterAll(() => h.stop());

  test("is served at the edge's own port, to the token's bearer only", async () => {
    expect(h.server.metricsUrl).toBe(`${h.server.httpUrl}/metrics`);
    const none = await fetch(h.server.metricsUrl);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(((await none.json()) as { error: string }).error).toBe("metrics-token-required");
    expect((await fetch(h.server.metricsUrl, { headers: { authorization: "Bearer scrape-secre" } })).status).toBe(401);
    expect((await fetch(h.server.metricsUrl, { headers: { authorization: "Basic scrape-secret" } })).status).toBe(401);
    const ok = await fetch(h.server.metricsUrl, { headers: { authorization: "Bearer scrape-secret" } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("msgr_connections");
  });

  /** The node's samples, scraped with the token. */
  const scrape = async () => samples(await (await fetch(h.server.metricsUrl, { headers: { authorization: "Bearer scrape-secret" } })).text());
  /** How far each of `names` moved between two scrapes. */
  const moved = (before: Map<string, number>, after: Map<string, number>, names: string[]) => Object.fromEntries(names.map((n) => [n, after.get(n)! - before.get(n)!]));
  const FRAMES = ["msgr_heartbeats_total", "msgr_frames_in_total", "msgr_frames_out_total"];

  test("connection and actor gauges report what the node holds when scraped", async () => {
    const before = await scrape();
    expect(before.get("msgr_connections")).toBe(0);
    expect(before.get('msgr_actors{kind="user"}')).toBe(0);
    const phone = await h.client("gauge-alice", "phone");
    const laptop = await h.client("gauge-alice", "laptop");
    const open = await scrape();
    expect(open.get("msgr_connections")).toBe(2);
    expect(open.get('msgr_actors{kind="user"}')).toBe(1);
    phone.close();
    laptop.close();
    let closed = open;
    await until(async () => (closed = await scrape()).get("msgr_connections") === 0, 10_000, "both connections gone from the gauge");
    expect(closed.get('msgr_actors{kind="user"}')).toBe(0);
  });

  // The idle collector (src/idle-collector.ts) reads the frames other than heartbeats from these.
  test("heartbeats are counted apart: each PING is one of msgr_heartbeats_total and a frame each way", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("beats", "b1"));
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await c.request(Method.Ping, {})).code).toBe(0);
    const after = await scrape();
    c.close();
    expect(moved(before, after, FRAMES)).toEqual({ msgr_heartbeats_total: 3, msgr_frames_in_total: 3, msgr_frames_out_total: 3 });
  });

  test("a PING with id 0 is not answered, so it is a frame in and no heartbeat", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("beats", "b2"));
    const before = await scrape();
    c.send(encodeCommand(0, Method.Ping, {}));
    // Frames are handled in order: this one's reply comes after the unanswered one was handled.
    expect((await c.request(Method.Ping, {})).code).toBe(0);
    const after = await scrape();
    c.close();
    expect(moved(before, after, FRAMES)).toEqual({ msgr_heartbeats_total: 1, msgr_frames_in_total: 2, msgr_frames_out_total: 1 });
  });
});

describe("/metrics on a listener of its own (metrics.listen)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ metrics: { listen: "127.0.0.1:0", token: "t0ken" } });
  });
  afterAll(() => h.stop());

  test("is served there, behind the token, and no longer on the port clients use", async () => {
    expect(h.server.metricsUrl).not.toStartWith(h.server.httpUrl);
    expect(new URL(h.server.metricsUrl).hostname).toBe("127.0.0.1");
    expect((await fetch(`${h.server.httpUrl}/metrics`, { headers: { authorization: "Bearer t0ken" } })).status).toBe(404);
    expect((await fetch(h.server.metricsUrl)).status).toBe(401);
    const ok = await fetch(h.server.metricsUrl, { headers: { authorization: "Bearer t0ken" } });
    expect(ok.status).toBe(200);
    const text = await ok.text();
    expect(text).toContain("msgr_message_stage_seconds");
    expect(text).toContain(`msgr_runtime_info{runtime="bun",version="${Bun.version}"} 1`);
    // Only /metrics: nothing else of the edge is reachable through it.
    const origin = new URL(h.server.metricsUrl).origin;
    for (const path of ["/healthz", "/readyz", "/v1/ws", "/v1/tickets"]) expect((await fetch(`${origin}${path}`)).status).toBe(404);
  });
});
