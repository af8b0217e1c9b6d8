// Builds the push notifier from the config: Web Push with VAPID keys kept in the data directory.

import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import type { MetadataStore, PresenceStore } from "../storage/types.ts";
import { PushNotifier } from "./notifier.ts";
import { ensureVapidKeys } from "./vapid.ts";
import { WebPushProvider } from "./web-push-provider.ts";

export async function openPushNotifier(config: Config, metadata: MetadataStore, presence: PresenceStore, log: Logger): Promise<PushNotifier> {
  const vapid = await ensureVapidKeys(config.server.dataDir);
  // The same allowlist as at subscribe time: the provider checks the endpoint again before each send.
  const provider = new WebPushProvider({
    vapid: { ...vapid, subject: config.push.subject },
    timeoutMs: 10_000,
    endpointAllowlist: config.push.testAllowlist,
  });
  return new PushNotifier({ metadata, presence, provider, log, minIntervalMs: config.push.minIntervalMs, ttlSec: config.push.ttlSec });
}
