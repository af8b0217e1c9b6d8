// Every target the bench knows, msgr first: the order in which they run and are reported.

import { bareBun, nodeWs } from "./bare.ts";
import { centrifugo } from "./centrifugo.ts";
import { msgr } from "./msgr.ts";
import { socketio } from "./socketio.ts";
import type { Target } from "./types.ts";

export const TARGETS: Target[] = [msgr, bareBun, nodeWs, socketio, centrifugo];

export function targetByName(name: string): Target {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown target ${JSON.stringify(name)} (known: ${TARGETS.map((x) => x.name).join(", ")})`);
  return t;
}
