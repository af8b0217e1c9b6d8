// The report's section for the direct (1:1) scenario.

import type { LoopFigures } from "../scenarios/loop-summary.ts";
import type { ScenarioResult } from "../scenarios/types.ts";
import { ms, num, percent, rate, ratio, table } from "./format.ts";

type Direct = Extract<ScenarioResult, { scenario: "direct" }>;

export function directSection(r: Direct): string {
  const p = r.params;
  const out = [
    "## direct — 1:1 chat",
    "",
    `${p.users} users in pairs, each sending to its partner, ${p.bodyBytes}-byte bodies, one generator process. ` +
      `Closed loop: ${p.window} messages in flight per sender for ${Number(p.durationMs) / 1000} s after a ${Number(p.warmupMs) / 1000} s warm-up; its throughput is the saturation point. ` +
      `Open loop: ${p.openLoop}, for ${Number(p.durationMs) / 1000} s, latency measured from each message's intended send time.`,
    "",
    "### Saturation (closed loop)",
    "",
    table(
      ["server", "delivered/s", "server CPU ms per 1k delivered", "server cores busy", "deliver p50 ms", "deliver p99 ms", "generator core"],
      r.targets.map((t) => [t.target, rate(t.closed.throughput), ms(t.closed.serverCpuPer1k), percent(t.closed.serverCores), ms(t.closed.deliver.p50), ms(t.closed.deliver.p99), percent(t.closed.generatorCores)]),
    ),
  ];
  const open = r.targets.filter((t) => t.open);
  if (open.length > 0) {
    out.push(
      "",
      "### Open loop (send-to-deliver from the intended send time)",
      "",
      table(
        ["server", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "ack p50 ms", "ack p99 ms", "send lag p99 ms", "server CPU ms per 1k", "generator core"],
        open.map((t) => {
          const o = t.open!;
          return [t.target, rate(o.offeredRate), ms(o.deliver.p50), ms(o.deliver.p90), ms(o.deliver.p99), ms(o.deliver.p999), ms(o.deliver.max), ms(o.ack?.p50), ms(o.ack?.p99), ms(o.sendLag?.p99), ms(o.serverCpuPer1k), percent(o.generatorCores)];
        }),
      ),
      "",
      "ack: send to the server's acknowledgement (msgr: the message is durable; Centrifugo: the publish is accepted); the other peers do not acknowledge. Send lag: how far behind its schedule the generator sent; it is part of every latency above.",
    );
  }
  out.push(...ratios(r));
  out.push("", "What each server does per 1:1 message:", "", ...r.targets.map((t) => `- **${t.target}**: ${t.perMessage}.`));
  return out.join("\n");
}

function ratios(r: Direct): string[] {
  const msgr = r.targets.find((t) => t.target === "msgr");
  const peers = r.targets.filter((t) => t.target !== "msgr");
  if (!msgr || peers.length === 0) return [];
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : Number.NaN);
  const openCol = (f: (o: LoopFigures) => number) => (t: (typeof peers)[number]) => ratio(div(msgr.open && f(msgr.open), t.open && f(t.open)));
  return [
    "",
    "### msgr relative to each peer (msgr ÷ peer; above 1× msgr uses more CPU, delivers more, or is slower)",
    "",
    table(
      ["peer", "CPU per 1k delivered, closed", "CPU per 1k delivered, open", "saturation throughput", "open p50", "open p99"],
      peers.map((t) => [
        t.target,
        ratio(msgr.closed.serverCpuPer1k / t.closed.serverCpuPer1k),
        openCol((o) => o.serverCpuPer1k)(t),
        ratio(msgr.closed.throughput / t.closed.throughput),
        openCol((o) => o.deliver.p50)(t),
        openCol((o) => o.deliver.p99)(t),
      ]),
    ),
    "",
    `Each server runs its open loop at 70% of its own saturation, so latency ratios compare servers at the same relative load, not the same rate. Messages sent / delivered (msgr, closed loop): ${num(msgr.closed.sent)} / ${num(msgr.closed.delivered)}.`,
  ];
}
