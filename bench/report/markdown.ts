// latest.md: everything one invocation measured, in one readable page. Every figure comes from
// the result objects of this run; nothing is typed in.

import type { ScenarioResult } from "../scenarios/types.ts";
import { connectionsSection } from "./connections-section.ts";
import { directSection } from "./direct-section.ts";
import { durableSection } from "./durable-section.ts";
import { groupSection } from "./group-section.ts";
import { pairedSection } from "./paired.ts";
import { resumeSection } from "./resume-section.ts";
import { checkTargets } from "./target-checks.ts";
import { table } from "./format.ts";
import { warnings } from "./warnings.ts";

export function header(results: ScenarioResult[]): string {
  const r = results[0]!;
  const m = r.machine;
  const lines = [
    `Run ${r.startedAt} with \`${r.command}\` (profile ${r.profile}${r.rounds > 1 ? `, medians of ${r.rounds} rounds` : ", one round"}) on msgr ${r.revision}.`,
    `Machine: ${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel}, open files ${m.openFilesLimit}; Bun ${m.bun}, Node ${m.node}. Pinning: ${r.pinning}.`,
  ];
  // The durable scenario runs the cluster backends and describes them in its own section.
  if (results.some((x) => x.scenario !== "durable")) {
    lines.push("msgr runs embedded (SQLite, `storage.synchronous = normal`: an acked message survives a process crash, not a power loss) with the send rate limit raised out of the way.");
  }
  return lines.join("\n");
}

export function sections(results: ScenarioResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    if (r.scenario === "direct") out.push(directSection(r));
    if (r.scenario === "group") out.push(groupSection(r));
    if (r.scenario === "connections") out.push(connectionsSection(r));
    if (r.scenario === "resume") out.push(resumeSection(r));
    if (r.scenario === "durable") out.push(durableSection(r));
  }
  const paired = pairedSection(results);
  if (paired) out.push(paired);
  const checks = checkTargets(results);
  out.push(
    [
      "## Targets (issue 11: the hot path)",
      "",
      table(
        ["target", "measured", "met"],
        checks.map((c) => [c.target, c.measured, c.met === null ? "not tested" : c.met ? "yes" : "**no**"]),
        3,
      ),
    ].join("\n"),
  );
  const w = warnings(results);
  if (w.length > 0) out.push(["## Warnings", "", ...w.map((x) => `- ${x}`)].join("\n"));
  return out.join("\n\n");
}

export function latestMarkdown(results: ScenarioResult[]): string {
  return `# msgr load test\n\n${header(results)}\n\n${sections(results)}\n\nLatency by percentile: [latest.svg](latest.svg). Raw results with full histograms: \`bench/results/<timestamp>-<scenario>.json\`.\n`;
}
