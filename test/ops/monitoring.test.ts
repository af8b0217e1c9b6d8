// The operator's monitoring files in infra/: Prometheus alert rules that promtool accepts and
// whose unit tests pass, a scrape config promtool accepts, and a Grafana dashboard; every msgr
// metric they name is one that an edge or a worker really exposes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const INFRA = new URL("../../infra", import.meta.url).pathname;
const RULES = join(INFRA, "prometheus", "msgr-alerts.yml");
const DASHBOARD = join(INFRA, "grafana", "msgr-dashboard.json");

function promtool(...args: string[]): { code: number; out: string } {
  // Installed by infra/services/install.sh (Debian's prometheus package); a missing promtool fails here.
  const r = Bun.spawnSync(["promtool", ...args], { cwd: join(INFRA, "prometheus"), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** Sample names a scrape exposes (histograms as _bucket, _sum and _count). */
function exposed(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) if (line && !line.startsWith("#")) names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
  return names;
}

/** msgr metric names used in PromQL expressions. */
function named(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\bmsgr_[a-z0-9_]+/g)) out.add(m[0]);
  return out;
}

let h: Harness;
let metrics: Set<string>;
beforeAll(async () => {
  h = await startHarness();
  // One message through, so every stage and counter has a sample.
  const a = await h.client("mon-a");
  await h.client("mon-b");
  const conv = await a.openDirect("mon-b");
  await a.send(conv.id, "hello");
  const edge = await (await fetch(h.server.metricsUrl)).text();
  const worker = new WorkerMetrics(async () => 0);
  worker.batchSize.observe(1);
  worker.writeSeconds.observe(0.001);
  worker.written.inc(0);
  worker.storeErrors.inc(0);
  worker.redeliveries.inc(0);
  worker.poison.inc(0);
  metrics = new Set([...exposed(edge), ...exposed(await worker.registry.metrics())]);
  // Labelled counters have no sample before their first event; their names are declared all the same.
  for (const name of ["msgr_errors_total", "msgr_disconnects_total", "msgr_push_total"]) {
    expect(edge).toContain(`# TYPE ${name} counter`);
    metrics.add(name);
  }
});
afterAll(() => h.stop());

describe("Prometheus rules", () => {
  test("promtool check rules accepts them", () => {
    const r = promtool("check", "rules", RULES);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("their unit tests pass (promtool test rules)", () => {
    const r = promtool("test", "rules", "msgr-alerts.test.yml");
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("the example scrape config is valid (promtool check config)", () => {
    const r = promtool("check", "config", "prometheus.yml");
    expect(r.code).toBe(0);
  });

  test("name only metrics msgr exposes", () => {
    const exprs = [...readFileSync(RULES, "utf8").matchAll(/expr: (\|\n((?: {10}.*\n)+)|.*)/g)].map((m) => m[2] ?? m[1]!);
    const used = named(exprs);
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !metrics.has(n))).toEqual([]);
  });
});

describe("Grafana dashboard", () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; type: string }[] };
  };

  test("is a dashboard with a data source variable, unique panel ids, and a query on every panel", () => {
    expect(dash.uid).toBe("msgr-overview");
    expect(dash.templating.list.find((v) => v.name === "datasource")?.type).toBe("datasource");
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    for (const p of dash.panels.filter((p) => p.type !== "row")) expect(p.targets?.length ?? 0).toBeGreaterThan(0);
  });

  test("queries only metrics msgr exposes, and covers every metric of the edge and the worker", () => {
    const used = named(dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
    expect([...used].filter((n) => !metrics.has(n))).toEqual([]);
    // Every family (a histogram counts once, by its _bucket) appears on the dashboard.
    const families = [...metrics].filter((n) => n.startsWith("msgr_") && !/_(sum|count)$/.test(n) && !/_process_start_time_seconds$|_heap_size_bytes$|_external_memory_bytes$|_process_cpu_(user|system)_seconds_total$/.test(n));
    expect(families.filter((n) => !used.has(n))).toEqual([]);
  });
});
