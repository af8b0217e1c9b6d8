// One PushProvider over all of them: a subscription's endpoint says which service it belongs to.

import type { PushSubscriptionRecord } from "../storage/types.ts";
import { serviceOf, type PushService } from "./mobile-token.ts";
import type { PushNotification, PushOutcome, PushProvider } from "./provider.ts";

export class PushRouter implements PushProvider {
  constructor(private readonly providers: Partial<Record<PushService, PushProvider>>) {}

  send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome> {
    const { service } = serviceOf(sub.endpoint);
    const provider = this.providers[service];
    // A token registered while the service was configured; kept, should it be configured again.
    if (!provider) return Promise.resolve({ kind: "failed", error: `${service} is not configured` });
    return provider.send(sub, n);
  }

  close(): void {
    for (const p of Object.values(this.providers)) p.close?.();
  }
}
