// The design's performance targets, checked against this run's figures. They are goals to
// report on, not tests: each line says what was measured and whether it meets the target.
// A target whose figures were not part of the run says so instead of guessing.

import type { ScenarioResult } from "../scenarios/types.ts";
import { kib, ms, num, rate, ratio } from "./format.ts";

export interface TargetCheck {
  target: string;
  measured: string;
  /** true / false, or null when this run cannot tell. */
  met: boolean | null;
}

type Of<S extends ScenarioResult["scenario"]> = Extract<ScenarioResult, { scenario: S }>;

const CPU_VS_BARE = 3;
const CPU_VS_SOCKETIO = 5;
const P50_MS = 2;
const P99_MS = 15;
const GROUP_DELIVERIES = 300_000;
const CONNECTIONS = 100_000;
const RSS_PER_CONN = 3 * 1024;

export function checkTargets(results: ScenarioResult[]): TargetCheck[] {
  const find = <S extends ScenarioResult["scenario"]>(s: S) => results.find((r) => r.scenario === s) as Of<S> | undefined;
  const direct = find("direct");
  const group = find("group");
  const conns = find("connections");
  const checks: TargetCheck[] = [];

  const cpu = (name: string) => direct?.targets.find((t) => t.target === name)?.closed.serverCpuPer1k;
  const msgrCpu = cpu("msgr");
  const vsPeer = (peer: string, label: string, met: (r: number) => boolean, describe: (r: number) => string) => {
    const peerCpu = cpu(peer);
    if (msgrCpu === undefined || peerCpu === undefined) return checks.push({ target: label, measured: `not measured (direct with msgr and ${peer})`, met: null });
    const r = msgrCpu / peerCpu;
    checks.push({ target: label, measured: `${describe(r)}: msgr ${ms(msgrCpu)} vs ${peer} ${ms(peerCpu)} CPU ms per 1k delivered (closed loop)`, met: met(r) });
  };
  vsPeer("bare-bun", `server CPU per delivered 1:1 message ≤ ${CPU_VS_BARE}× the bare Bun router's`, (r) => r <= CPU_VS_BARE, (r) => `msgr uses ${ratio(r)} bare-bun's CPU`);
  vsPeer("socketio", `≥ ${CPU_VS_SOCKETIO}× cheaper than socket.io`, (r) => 1 / r >= CPU_VS_SOCKETIO, (r) => `socket.io uses ${ratio(1 / r)} msgr's CPU`);
  vsPeer("centrifugo", "no more than Centrifugo's", (r) => r <= 1, (r) => `msgr uses ${ratio(r)} Centrifugo's CPU`);

  const open = direct?.targets.find((t) => t.target === "msgr")?.open;
  checks.push(
    open
      ? {
          target: `1:1 at 70% of saturation: p50 ≤ ${P50_MS} ms, p99 ≤ ${P99_MS} ms send-to-deliver`,
          measured: `p50 ${ms(open.deliver.p50)} ms, p99 ${ms(open.deliver.p99)} ms at ${rate(open.offeredRate)} msg/s`,
          met: open.deliver.p50 <= P50_MS && open.deliver.p99 <= P99_MS,
        }
      : { target: `1:1 at 70% of saturation: p50 ≤ ${P50_MS} ms, p99 ≤ ${P99_MS} ms`, measured: "not measured (direct open loop with msgr)", met: null },
  );

  const g = group?.targets.find((t) => t.target === "msgr")?.closed;
  checks.push(
    g
      ? { target: `group of 256: ≥ ${num(GROUP_DELIVERIES)} deliveries/s per machine`, measured: `${num(g.throughput)} deliveries/s`, met: g.throughput >= GROUP_DELIVERIES }
      : { target: `group of 256: ≥ ${num(GROUP_DELIVERIES)} deliveries/s`, measured: "not measured", met: null },
  );

  const c = conns?.targets.find((t) => t.target === "msgr")?.figures;
  if (!c) checks.push({ target: `${num(CONNECTIONS)} idle connections, ≤ 3 KiB per connection`, measured: "not measured", met: null });
  else {
    const scale = c.connected >= CONNECTIONS;
    checks.push({
      target: `${num(CONNECTIONS)} idle authenticated connections on one machine`,
      measured: `${num(c.connected)} of ${num(c.requested)} connected${scale ? "" : " (this run did not try the full scale: use --profile full)"}`,
      met: scale ? true : c.connected < c.requested ? false : null,
    });
    checks.push({ target: "≤ 3 KiB of server user-space memory per connection", measured: `${kib(c.serverRssPerConn)} per connection at ${num(c.connected)}`, met: c.serverRssPerConn <= RSS_PER_CONN });
  }
  return checks;
}
