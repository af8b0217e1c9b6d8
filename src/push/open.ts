// Builds the push notifier from the config: Web Push with VAPID keys from push.vapidKeysFile (or
// kept in the data directory), plus APNs and FCM when their credentials are configured.

import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/config.ts";
import type { MetadataStore, PresenceStore } from "../storage/types.ts";
import { ApnsProvider, loadApnsKey } from "./apns-provider.ts";
import { FcmProvider, loadServiceAccount } from "./fcm-provider.ts";
import { Http2Client } from "./http2-client.ts";
import type { PushService } from "./mobile-token.ts";
import { PushNotifier, type PushOutcomeListener } from "./notifier.ts";
import type { PushProvider } from "./provider.ts";
import { PushRouter } from "./router.ts";
import { ensureVapidKeys, readVapidKeysFile } from "./vapid.ts";
import { WebPushProvider } from "./web-push-provider.ts";

const TIMEOUT_MS = 10_000;

export async function openPushNotifier(
  config: Config,
  metadata: MetadataStore,
  presence: PresenceStore,
  log: Logger,
  clock: Clock,
  onOutcome?: PushOutcomeListener,
): Promise<PushNotifier> {
  const vapid = await ensureVapidKeys(config.server.dataDir, config.push.vapidKeysFile ? readVapidKeysFile(config.push.vapidKeysFile) : undefined);
  const providers: Partial<Record<PushService, PushProvider>> = {
    // The same allowlist as at subscribe time: the provider checks the endpoint again before each send.
    webpush: new WebPushProvider({
      vapid: { ...vapid, subject: config.push.subject },
      timeoutMs: TIMEOUT_MS,
      endpointAllowlist: config.push.testAllowlist,
    }),
  };
  const { apns, fcm, caFile } = config.push;
  const ca = caFile ? await readConfigured(caFile, "push.caFile") : undefined;
  // Bad credentials fail the start, not every push.
  if (apns.keyFile) {
    const key = await loadApnsKey(await readConfigured(apns.keyFile, "push.apns.keyFile")).catch((err: Error) => {
      throw new Error(`push.apns.keyFile: not a PKCS#8 P-256 key (.p8): ${err.message}`);
    });
    providers.apns = new ApnsProvider({ key, keyId: apns.keyId, teamId: apns.teamId, topic: apns.topic, url: apns.url, http: new Http2Client({ ca }), timeoutMs: TIMEOUT_MS });
  }
  if (fcm.serviceAccountFile) {
    const { account, key } = await loadServiceAccount(await readConfigured(fcm.serviceAccountFile, "push.fcm.serviceAccountFile"), "push.fcm.serviceAccountFile");
    providers.fcm = new FcmProvider({ account, key, url: fcm.url, http: new Http2Client({ ca }), timeoutMs: TIMEOUT_MS });
  }
  log.info({ services: Object.keys(providers) }, "push enabled");
  return new PushNotifier({
    metadata,
    presence,
    provider: new PushRouter(providers),
    log,
    clock,
    minIntervalMs: config.push.minIntervalMs,
    ttlSec: config.push.ttlSec,
    retry: { attempts: config.push.retryAttempts, baseMs: config.push.retryBaseMs, maxMs: config.push.retryMaxMs },
    onOutcome,
    muted: (conv, users, nowMs) => metadata.mutedAmong(conv, users, nowMs),
  });
}

async function readConfigured(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`${key}: cannot read ${path} (${(err as Error).message})`);
  }
}
