// Writes a run's results: one JSON file per scenario (full histograms, every round), latest.md,
// latest.svg, and, for the reference run (`all --profile quick`, optionally with --rounds), the
// figures section of bench/README.md between its markers.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ScenarioResult } from "../scenarios/types.ts";
import { header, latestMarkdown, sections } from "./markdown.ts";
import { latencyChart, type Panel } from "./svg.ts";

const BENCH = new URL("..", import.meta.url).pathname;
export const RESULTS_DIR = join(BENCH, "results");
const README = join(BENCH, "README.md");
const BEGIN = "<!-- quick-figures:begin (written by the bench; do not edit) -->";
const END = "<!-- quick-figures:end -->";

export function writeScenarioJson(r: ScenarioResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${r.startedAt.replace(/[:.]/g, "-")}-${r.scenario}.json`);
  writeFileSync(file, `${JSON.stringify(r, null, 1)}\n`);
  return file;
}

export function writeLatest(results: ScenarioResult[]): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = join(RESULTS_DIR, "latest.md");
  writeFileSync(md, latestMarkdown(results));
  const written = [md];
  const panels = chartPanels(results);
  if (panels.length > 0) {
    const svg = join(RESULTS_DIR, "latest.svg");
    writeFileSync(svg, latencyChart(panels));
    written.push(svg);
  }
  return written;
}

/** Replaces the figures between the README's markers with this run's. */
export function writeReadmeFigures(results: ScenarioResult[]): string {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${README}: figure markers not found`);
  const demoted = sections(results).replace(/^## /gm, "#### ").replace(/^### /gm, "##### ");
  const figures = `${BEGIN}\n\n${header(results)}\n\n${demoted}\n\n![latency by percentile](results/latest.svg)\n\n${END}`;
  writeFileSync(README, text.slice(0, start) + figures + text.slice(end + END.length));
  return README;
}

function chartPanels(results: ScenarioResult[]): Panel[] {
  const panels: Panel[] = [];
  for (const r of results) {
    if (r.scenario === "direct") {
      const series = r.targets.flatMap((t) => (t.openCurve ? [{ name: t.target, curve: t.openCurve }] : []));
      if (series.length > 0) panels.push({ title: `direct (1:1), open loop at ${r.params.openLoop}: send-to-deliver`, series });
    }
    if (r.scenario === "group") panels.push({ title: `group of ${r.params.members}, closed loop: send-to-deliver`, series: r.targets.map((t) => ({ name: t.target, curve: t.curve })) });
  }
  return panels;
}
