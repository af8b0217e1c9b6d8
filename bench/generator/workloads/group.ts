// Group chat: groups of `members` users, the first `senders` of each group sending to it; every
// message is delivered to every other member.

import type { Adapter, Conn } from "../../adapters/types.ts";
import type { TargetAccess } from "../../targets/types.ts";
import { connectEvery } from "../connect-all.ts";
import type { Counters, Workload } from "../protocol.ts";
import { Traffic, type Sender } from "../traffic.ts";
import type { LoopParams } from "./direct.ts";

export interface GroupSetup {
  groups: number;
  members: number;
  senders: number;
  bodyBytes: number;
  connectConcurrency: number;
}

export function groupWorkload(adapter: Adapter, access: TargetAccess, counters: Counters): Workload {
  let conns: Conn[] = [];
  let traffic: Traffic | null = null;
  return {
    steps: {
      async setup(p: GroupSetup) {
        if (p.senders > p.members) throw new Error("group: more senders than members");
        const user = (g: number, m: number) => `g${g}m${m}`;
        conns = await connectEvery(p.groups * p.members, p.connectConcurrency, (i) =>
          adapter.connect(user(Math.floor(i / p.members), i % p.members), "bench", access.endpoints[0]!),
        );
        const senders: Sender[] = [];
        for (let g = 0; g < p.groups; g++) {
          const first = g * p.members;
          const names = Array.from({ length: p.members }, (_, m) => user(g, m));
          const route = await conns[first]!.createGroup(`grp${g}`, names);
          await Promise.all(conns.slice(first, first + p.members).map((c) => c.joinGroup(route)));
          for (let s = 0; s < p.senders; s++) senders.push({ index: first + s, conn: conns[first + s]!, route });
        }
        traffic = new Traffic(senders, p.members - 1, p.bodyBytes, adapter.acks, counters);
        conns.forEach((c, i) => traffic!.receiveOn(c, i));
        return { connected: conns.length };
      },
      closed(p: LoopParams) {
        if (!traffic) throw new Error("group: setup first");
        return traffic.closedLoop(p.durationMs, p.window ?? 1, p.drainMs);
      },
      async teardown() {
        for (const c of conns) c.close();
        conns = [];
        return {};
      },
    },
  };
}
