// The adapter for a target's protocol.

import type { TargetAccess } from "../targets/types.ts";
import { bareAdapter } from "./bare.ts";
import { centrifugoAdapter } from "./centrifugo.ts";
import { msgrAdapter } from "./msgr.ts";
import { socketioAdapter } from "./socketio.ts";
import type { Adapter } from "./types.ts";

export function adapterFor(access: TargetAccess): Promise<Adapter> | Adapter {
  switch (access.protocol) {
    case "msgr":
      return msgrAdapter(access);
    case "bare":
      return bareAdapter(access);
    case "socketio":
      return socketioAdapter();
    case "centrifugo":
      return centrifugoAdapter(access);
  }
}
