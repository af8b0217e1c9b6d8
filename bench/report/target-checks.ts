// The hot path's performance targets (issue 11), checked against this run's figures, each with
// the ratio it is judged by. They are goals to report on, not tests: each line says what was
// measured and whether it meets the target. A target whose figures were not part of the run
// says so instead of guessing.

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
const P50_MS = 2;
const P99_MS = 15;
const RSS_VS_BARE = 1.5;
const RESUME_MS = 200;
const CONNECTIONS = 100_000;

export function checkTargets(results: ScenarioResult[]): TargetCheck[] {
  const find = <S extends ScenarioResult["scenario"]>(s: S) => results.find((r) => r.scenario === s) as Of<S> | undefined;
  const direct = find("direct");
  const group = find("group");
  const conns = find("connections");
  const resume = find("resume");
  const checks: TargetCheck[] = [];
  const notMeasured = (target: string, what: string) => checks.push({ target, measured: `not measured (${what})`, met: null });

  /** msgr's figure against a peer's, lower is better: met when msgr ≤ limit × the peer's. */
  const versus = (target: string, what: string, unit: string, limit: number, msgrValue: number | undefined, peer: string, peerValue: number | undefined, show: (x: number) => string = ms) => {
    if (msgrValue === undefined || peerValue === undefined) return notMeasured(target, `${what} with msgr and ${peer}`);
    const r = msgrValue / peerValue;
    checks.push({ target, measured: `${ratio(r)}: msgr ${show(msgrValue)} vs ${peer} ${show(peerValue)} ${unit}`, met: r <= limit });
  };

  const directCpu = (name: string) => direct?.targets.find((t) => t.target === name)?.closed.serverCpuPer1k;
  versus(`1:1 server CPU per delivered message ≤ ${CPU_VS_BARE}× the bare Bun router's`, "direct", "CPU ms per 1k delivered", CPU_VS_BARE, directCpu("msgr"), "bare-bun", directCpu("bare-bun"));
  versus("1:1 server CPU per delivered message ≤ Centrifugo's", "direct", "CPU ms per 1k delivered", 1, directCpu("msgr"), "centrifugo", directCpu("centrifugo"));

  const groupOf = (name: string) => group?.targets.find((t) => t.target === name)?.closed;
  const [gm, gc] = [groupOf("msgr"), groupOf("centrifugo")];
  if (!gm || !gc) notMeasured("group of 256: deliveries/s ≥ Centrifugo's", "group with msgr and centrifugo");
  else {
    const r = gm.throughput / gc.throughput;
    checks.push({ target: "group of 256: deliveries/s ≥ Centrifugo's", measured: `${ratio(r)}: msgr ${rate(gm.throughput)} vs centrifugo ${rate(gc.throughput)} deliveries/s`, met: r >= 1 });
  }
  versus("group of 256: server CPU per 1k deliveries ≤ Centrifugo's", "group", "CPU ms per 1k deliveries", 1, gm?.serverCpuPer1k, "centrifugo", gc?.serverCpuPer1k);

  const open = direct?.targets.find((t) => t.target === "msgr")?.open;
  const openTarget = `1:1 open loop at 70% of msgr's saturation: p50 ≤ ${P50_MS} ms, p99 ≤ ${P99_MS} ms send-to-deliver`;
  if (!open) notMeasured(openTarget, "direct open loop with msgr");
  else checks.push({ target: openTarget, measured: `p50 ${ms(open.deliver.p50)} ms, p99 ${ms(open.deliver.p99)} ms at ${rate(open.offeredRate)} msg/s`, met: open.deliver.p50 <= P50_MS && open.deliver.p99 <= P99_MS });

  const connOf = (name: string) => conns?.targets.find((t) => t.target === name)?.figures;
  const [cm, cb, cc] = [connOf("msgr"), connOf("bare-bun"), connOf("centrifugo")];
  versus(`RSS per idle connection ≤ ${RSS_VS_BARE}× the bare Bun router's`, "connections", "per connection", RSS_VS_BARE, cm?.serverRssPerConn, "bare-bun", cb?.serverRssPerConn, kib);
  versus("server CPU per connect ≤ Centrifugo's", "connections", "CPU ms per 1k connects", 1, cm?.serverCpuPer1kConnects, "centrifugo", cc?.serverCpuPer1kConnects);
  if (cm) {
    const scale = cm.connected >= CONNECTIONS;
    checks.push({
      target: `${num(CONNECTIONS)} idle authenticated connections on one machine`,
      measured: `${num(cm.connected)} of ${num(cm.requested)} connected${scale ? "" : " (this run did not try the full scale: use --profile full)"}`,
      met: scale ? true : cm.connected < cm.requested ? false : null,
    });
  }

  const rf = resume?.targets.find((t) => t.target === "msgr")?.figures;
  const resumeTarget = `resume: ${rf ? `${num(rf.devices)} devices × ${num(rf.missed)}` : "200 devices × 50"} missed messages caught up in ≤ ${RESUME_MS} ms`;
  if (!rf) notMeasured(resumeTarget, "resume");
  else checks.push({ target: resumeTarget, measured: `all caught up in ${ms(rf.allCaughtUpMs)} ms${rf.incomplete > 0 ? `, ${num(rf.incomplete)} incomplete` : ""} (the server's first storm since its start: ${ms(rf.cold.allCaughtUpMs)} ms)`, met: rf.allCaughtUpMs <= RESUME_MS && rf.incomplete === 0 && !rf.timedOut });
  return checks;
}
