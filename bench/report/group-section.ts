// The report's section for the group scenario.

import type { ScenarioResult } from "../scenarios/types.ts";
import { ms, num, percent, rate, ratio, table } from "./format.ts";

type Group = Extract<ScenarioResult, { scenario: "group" }>;

export function groupSection(r: Group): string {
  const p = r.params;
  const out = [
    "## group — groups of 256",
    "",
    `${p.groups} groups of ${p.members} members (one connection each), ${p.sendersPerGroup} senders per group, closed loop with ${p.window} message(s) in flight per sender ` +
      `(the next one leaves when the last reached all ${Number(p.members) - 1} other members), ${Number(p.durationMs) / 1000} s, ${p.bodyBytes}-byte bodies, one generator process. ` +
      "How pushes share WebSocket messages differs: msgr's SDK asks for batches (a group's messages of one server turn in one message, docs/protocol.md §3.5), Centrifugo merges the pushes queued for a connection into one message, bare Bun's router and socket.io send one per message.",
    "",
    table(
      ["server", "deliveries/s", "server CPU ms per 1k deliveries", "server cores busy", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "incomplete msgs", "generator core"],
      r.targets.map((t) => {
        const c = t.closed;
        return [t.target, rate(c.throughput), ms(c.serverCpuPer1k), percent(c.serverCores), ms(c.deliver.p50), ms(c.deliver.p90), ms(c.deliver.p99), ms(c.deliver.p999), ms(c.deliver.max), num(c.incomplete), percent(c.generatorCores)];
      }),
    ),
  ];
  const msgr = r.targets.find((t) => t.target === "msgr");
  const peers = r.targets.filter((t) => t.target !== "msgr");
  if (msgr && peers.length > 0) {
    out.push(
      "",
      "msgr ÷ peer:",
      "",
      table(
        ["peer", "CPU per 1k deliveries", "deliveries/s", "p50", "p99"],
        peers.map((t) => [
          t.target,
          ratio(msgr.closed.serverCpuPer1k / t.closed.serverCpuPer1k),
          ratio(msgr.closed.throughput / t.closed.throughput),
          ratio(msgr.closed.deliver.p50 / t.closed.deliver.p50),
          ratio(msgr.closed.deliver.p99 / t.closed.deliver.p99),
        ]),
      ),
    );
  }
  return out.join("\n");
}
