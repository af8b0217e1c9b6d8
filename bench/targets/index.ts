// Every target the bench knows, msgr first: the order in which they run and are reported.

import { bareBun, nodeWs } from "./bare.ts";
import { centrifugo } from "./centrifugo.ts";
import { msgr } from "./msgr.ts";
import { REVISION_PREFIX, revisionTarget } from "./revision.ts";
import { socketio } from "./socketio.ts";
import type { Target } from "./types.ts";

export const TARGETS: Target[] = [msgr, bareBun, nodeWs, socketio, centrifugo];

/** A target by name, or `msgr@REV`: msgr as of another revision (revision.ts), unpacked under `tmpRoot`. */
export function targetByName(name: string, tmpRoot: string): Target {
  if (name.startsWith(REVISION_PREFIX)) return revisionTarget(name, tmpRoot);
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown target ${JSON.stringify(name)} (known: ${TARGETS.map((x) => x.name).join(", ")}, and ${REVISION_PREFIX}REV)`);
  return t;
}
