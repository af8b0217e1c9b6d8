// What a reader must know before trusting a figure: a generator that ran out of CPU (its
// limit, not the server's), messages that never arrived, failed sends or connects, and the
// servers that were not measured.

import { GENERATOR_SATURATED, NOISY_MACHINE } from "../scenarios/context.ts";
import type { LoopFigures } from "../scenarios/loop-summary.ts";
import type { ScenarioResult } from "../scenarios/types.ts";
import { percent } from "./format.ts";

export function warnings(results: ScenarioResult[]): string[] {
  const out: string[] = [];
  const noise = (where: string, otherCores: number) => {
    if (otherCores > NOISY_MACHINE) out.push(`${where}: other processes on this machine kept ${otherCores.toFixed(2)} cores busy meanwhile; its figures are disturbed (rerun, or compare with more --rounds).`);
  };
  const loop = (where: string, f: LoopFigures) => {
    noise(where, f.otherCores);
    if (f.generatorCores > GENERATOR_SATURATED) out.push(`${where}: the generator used ${percent(f.generatorCores)} of a core; throughput and latency may be the generator's limit, not the server's.`);
    if (f.incomplete > 0) out.push(`${where}: ${f.incomplete} message(s) had not reached every recipient by the end of the drain.`);
    if (f.sendErrors > 0) out.push(`${where}: ${f.sendErrors} send(s) failed.`);
  };
  for (const r of results) {
    if (r.scenario === "direct")
      for (const t of r.targets) {
        loop(`direct · ${t.target} · closed loop`, t.closed);
        if (t.open) loop(`direct · ${t.target} · open loop`, t.open);
      }
    if (r.scenario === "group") for (const t of r.targets) loop(`group · ${t.target}`, t.closed);
    if (r.scenario === "connections")
      for (const t of r.targets) {
        const f = t.figures;
        noise(`connections · ${t.target}`, f.otherCores);
        if (f.failed > 0) out.push(`connections · ${t.target}: ${f.failed} connect(s) failed${f.firstError ? ` (first: ${f.firstError})` : ""}.`);
        if (f.generatorCores > GENERATOR_SATURATED) out.push(`connections · ${t.target}: a generator used ${percent(f.generatorCores)} of a core while connecting; the connect rate may be the generator's limit.`);
      }
    if (r.scenario === "resume")
      for (const t of r.targets) {
        const f = t.figures;
        noise("resume", f.otherCores);
        if (f.incomplete > 0 || f.caughtUp < f.devices)
          out.push(`resume: ${f.devices - f.caughtUp} device(s) not caught up (${f.failed} reconnects failed${f.firstError ? `, first: ${f.firstError}` : ""}), ${f.incomplete} with a wrong message count.`);
        if (f.generatorCores > GENERATOR_SATURATED) out.push(`resume: the generator used ${percent(f.generatorCores)} of a core; catch-up time may be the generator's limit.`);
      }
    if (r.scenario === "durable") {
      r.perRound.forEach((round, i) => {
        const at = r.perRound.length > 1 ? ` (round ${i + 1})` : "";
        noise(`durable · closed loop${at}`, round.fill.otherCores);
        noise(`durable · open loop${at}`, round.open.otherCores);
        const d = round.drain;
        const where = `durable · drain${at}`;
        noise(where, d.otherCores);
        if (d.storeErrors > 0) out.push(`${where}: ${d.storeErrors} store write(s) failed and were retried.`);
        if (d.capped ? d.rowsStored < d.written : d.rowsStored !== d.written) out.push(`${where}: the store holds ${d.rowsStored} message rows after writing ${d.written}.`);
        if (d.backlogLeft > 0) out.push(`${where}: the consumers still counted ${d.backlogLeft} envelopes unacknowledged after the last write.`);
      });
    }
  }
  const skipped = new Map<string, string>();
  for (const r of results) for (const s of r.skipped) if (r.scenario !== "resume") skipped.set(s.target, s.reason);
  for (const [target, reason] of skipped) out.push(`${target} was not measured: ${reason}.`);
  return out;
}
