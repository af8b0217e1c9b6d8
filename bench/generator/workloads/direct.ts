// 1:1 chat: users in pairs on one server instance, each sending to its partner.

import type { Adapter, Conn } from "../../adapters/types.ts";
import type { TargetAccess } from "../../targets/types.ts";
import { connectEvery } from "../connect-all.ts";
import type { Counters, Workload } from "../protocol.ts";
import { Traffic, type Sender } from "../traffic.ts";

export interface DirectSetup {
  users: number;
  bodyBytes: number;
  connectConcurrency: number;
}

export interface LoopParams {
  durationMs: number;
  drainMs: number;
  /** Closed loop: messages in flight per sender. */
  window?: number;
  /** Open loop: total messages per second. */
  rate?: number;
}

export function directWorkload(adapter: Adapter, access: TargetAccess, counters: Counters): Workload {
  let conns: Conn[] = [];
  let traffic: Traffic | null = null;
  const ready = () => {
    if (!traffic) throw new Error("direct: setup first");
    return traffic;
  };
  return {
    steps: {
      async setup(p: DirectSetup) {
        if (p.users < 2 || p.users % 2 !== 0) throw new Error("direct: users must be an even number ≥ 2");
        conns = await connectEvery(p.users, p.connectConcurrency, (i) => adapter.connect(`u${i}`, "bench", access.endpoints[0]!));
        // One side of a pair first, then the other: msgr creates the conversation on the first call.
        const routes: string[] = [];
        await Promise.all(
          Array.from({ length: p.users / 2 }, async (_, k) => {
            const [a, b] = [conns[2 * k]!, conns[2 * k + 1]!];
            routes[2 * k] = await a.directRoute(b.user);
            routes[2 * k + 1] = await b.directRoute(a.user);
          }),
        );
        const senders: Sender[] = conns.map((conn, index) => ({ index, conn, route: routes[index]! }));
        traffic = new Traffic(senders, 1, p.bodyBytes, adapter.acks, counters);
        conns.forEach((c, i) => traffic!.receiveOn(c, i));
        return { connected: conns.length };
      },
      closed: (p: LoopParams) => ready().closedLoop(p.durationMs, p.window ?? 1, p.drainMs),
      open: (p: LoopParams) => ready().openLoop(p.durationMs, p.rate ?? 1, p.drainMs),
      async teardown() {
        for (const c of conns) c.close();
        conns = [];
        return {};
      },
    },
  };
}
