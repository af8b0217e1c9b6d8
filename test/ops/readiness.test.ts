// /readyz reports the health of the stores and the bus: each probed with a real round trip, 503
// naming the backend that failed, 200 again once it is back. Run on real NATS and Redis servers
// that the test stops and restarts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedSecrets } from "../helpers/cluster-secrets.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { startRedis, type RedisServer } from "../helpers/services/redis.ts";

interface Report {
  ready: boolean;
  draining: boolean;
  checks: Record<string, string>;
  failed: string[];
}

async function readyz(h: Harness): Promise<{ status: number; report: Report }> {
  const res = await fetch(`${h.server.httpUrl}/readyz`);
  return { status: res.status, report: (await res.json()) as Report };
}

describe("/readyz on the embedded backends", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.stop());

  test("answers 200 with every backend ok, and exports them as msgr_backend_up", async () => {
    const { status, report } = await readyz(h);
    expect(status).toBe(200);
    expect(report).toEqual({ ready: true, draining: false, checks: { bus: "ok", messages: "ok", metadata: "ok", presence: "ok", tickets: "ok" }, failed: [] });
    const metrics = await (await fetch(h.server.metricsUrl)).text();
    for (const b of ["bus", "messages", "metadata", "presence", "tickets"]) expect(metrics).toContain(`msgr_backend_up{backend="${b}"} 1`);
    expect(metrics).toContain("msgr_ready 1");
  });
});

describe("/readyz on NATS and Redis", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let h: Harness;
  let secretsDir: string;
  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    secretsDir = mkdtempSync(join(tmpdir(), "msgr-readyz-"));
    // Cluster mode (bus = nats): the edge refuses to start with secrets of its own.
    const { config: shared } = await sharedSecrets(secretsDir);
    h = await startHarness({ ...shared, backends: { bus: "nats", presence: "redis" }, nats: { servers: [nats.url] }, redis: { url: redis.url } });
  });
  afterAll(async () => {
    await h.stop();
    await Promise.all([nats.stop(), redis.stop()]);
    rmSync(secretsDir, { recursive: true, force: true });
  });

  test("Redis down: 503 naming presence and tickets; 200 again once it is back", async () => {
    expect((await readyz(h)).status).toBe(200);
    await redis.stop();
    const down = await poll(h, (r) => r.status === 503);
    expect(down.report.failed.sort()).toEqual(["presence", "tickets"]);
    expect(down.report.ready).toBe(false);
    expect(down.report.checks.bus).toBe("ok");
    expect(down.report.checks.presence).not.toBe("ok");
    const metrics = await (await fetch(h.server.metricsUrl)).text();
    expect(metrics).toContain('msgr_backend_up{backend="presence"} 0');
    expect(metrics).toContain('msgr_backend_up{backend="bus"} 1');

    await redis.restart();
    await poll(h, (r) => r.status === 200);
  });

  test("NATS down: 503 naming the bus", async () => {
    await nats.stop();
    const down = await poll(h, (r) => r.status === 503);
    expect(down.report.failed).toEqual(["bus"]);
    expect(down.report.checks.bus).toContain("no answer within");
  });
});

/** Asks /readyz until its answer satisfies `pred`. */
async function poll(h: Harness, pred: (r: { status: number; report: Report }) => boolean): Promise<{ status: number; report: Report }> {
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await readyz(h);
    if (pred(r)) return r;
    if (Date.now() > end) throw new Error(`/readyz never matched; last: ${r.status} ${JSON.stringify(r.report)}`);
  }
}
