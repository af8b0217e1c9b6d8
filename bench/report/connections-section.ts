// The report's section for the connections scenario.

import type { ScenarioResult } from "../scenarios/types.ts";
import { kib, mib, ms, num, percent, rate, ratio, table } from "./format.ts";

type Connections = Extract<ScenarioResult, { scenario: "connections" }>;

export function connectionsSection(r: Connections): string {
  const p = r.params;
  const warmUp = r.targets[0]?.figures.warmUpConnected ?? 0;
  const out = [
    "## connections — idle authenticated connections",
    "",
    `${num(Number(p.connections))} connections per server, spread over ${p.serverProcesses} server process(es) (each on its own 127.0.0.x address) and ${p.generatorProcesses} generator process(es); ` +
      `heartbeat every ${Number(p.heartbeatMs) / 1000} s; held open ${Number(p.holdMs) / 1000} s. A warm-up of ${num(warmUp)} connections opens first and stays open; ` +
      "the figures are taken over the connections opened after it: RSS per connection is the growth of the servers' VmRSS over their RSS after the warm-up, divided by those connections (the marginal cost of one more connection). " +
      "The warm-up's own growth is what the first connections to a fresh process pay once (JIT-compiled code and its later tiers, caches); it is shown beside it. CPU per connect is taken after the warm-up too.",
    "",
    table(
      ["server", "connected", "connects/s", "connect p50 ms", "connect p99 ms", "server CPU ms per 1k connects", "server RSS per connection", "warm-up RSS growth", "idle server CPU (one core)", "generator RSS per connection", "generator core"],
      r.targets.map((t) => {
        const f = t.figures;
        return [t.target, num(f.connected), rate(f.connectRate), ms(f.connectLatency.p50), ms(f.connectLatency.p99), ms(f.serverCpuPer1kConnects), kib(f.serverRssPerConn), mib(f.warmUpRssKiB * 1024), percent(f.idleServerCores), kib(f.generatorRssPerConn), percent(f.generatorCores)];
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
        ["peer", "RSS per connection", "CPU per connect", "idle CPU"],
        peers.map((t) => [
          t.target,
          ratio(msgr.figures.serverRssPerConn / t.figures.serverRssPerConn),
          ratio(msgr.figures.serverCpuPer1kConnects / t.figures.serverCpuPer1kConnects),
          ratio(msgr.figures.idleServerCores / t.figures.idleServerCores),
        ]),
      ),
      "",
      "msgr, Centrifugo: each connection presents a signed token that the server verifies; the bare routers and socket.io take the user id on trust. msgr also runs CONNECT and SYNC (the device's conversations and cursors) per connection.",
    );
  }
  return out.join("\n");
}
