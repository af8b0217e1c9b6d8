// The report's section for the resume (reconnect storm) scenario.

import type { ScenarioResult } from "../scenarios/types.ts";
import { ms, num, percent, rate, table } from "./format.ts";

type Resume = Extract<ScenarioResult, { scenario: "resume" }>;

export function resumeSection(r: Resume): string {
  const out = [
    "## resume — reconnect storm",
    "",
    `${r.params.devices} devices, each in a 1:1 conversation, go offline holding their cursors and access tokens and miss ${r.params.missedEach} messages each; then all reconnect at once (SDK \`cursors\` option) and each counts as caught up at its \`synced\` event with exactly the messages it missed. The backlog is sent first, one sender per device, 8 messages in flight each: a message to a user with no device online, the path that consults the push notifier (these users have no push subscription). Two cohorts of ${r.params.devices} devices do this: the first storm, the server's first since it started, warms it up (as the connections scenario's warm-up does) and its time is shown as "first storm"; the second is measured. Each storm starts once the server has gone quiet (a 200 ms window under 10% of a core): its JIT thread, on the same pinned core, compiles what the steps before made hot, about a third of the server's CPU in a storm right after them.`,
    "",
  ];
  if (r.targets.length === 0) return [...out, "Not run (msgr was not selected)."].join("\n");
  out.push(
    table(
      ["server", "devices", "caught up", "with a wrong count", "all caught up in ms", "first storm: all caught up in ms", "per device p50 ms", "per device p99 ms", "replayed msgs/s", "server CPU ms per 1k replayed (reconnects included)", "server CPU ms per 1k sent to offline devices", "generator core"],
      r.targets.map(({ target, figures: f }) => [target, num(f.devices), num(f.caughtUp), num(f.incomplete), ms(f.allCaughtUpMs), ms(f.cold.allCaughtUpMs), ms(f.perDevice.p50), ms(f.perDevice.p99), rate(f.replayRate), ms(f.serverCpuPer1k), ms(f.offlineSendCpuPer1k), percent(f.generatorCores)]),
    ),
  );
  for (const t of r.targets) if (t.figures.timedOut) out.push("", `**${t.target}: the storm timed out before every device was caught up.**`);
  for (const t of r.targets) {
    const wrong = t.rounds.filter((f) => f.cold.timedOut || f.cold.incomplete > 0 || f.cold.failed > 0).length;
    if (wrong > 0) out.push("", `**${t.target}: in ${wrong} of ${t.rounds.length} rounds the first storm left devices without exactly their messages (timed out, failed or a wrong count).**`);
  }
  for (const t of r.targets) {
    const busy = t.rounds.filter((f) => !f.settled).length;
    if (busy > 0) out.push("", `**${t.target}: in ${busy} of ${t.rounds.length} rounds the server was still busy 10 s after the first storm when the measured one began.**`);
  }
  return out.join("\n");
}
