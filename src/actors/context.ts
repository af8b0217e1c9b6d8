// What every actor of a node shares: configuration, the bus, the stores and the instruments.

import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/config.ts";
import type { E2ee } from "../e2ee/service.ts";
import type { MediaService } from "../media/media-service.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { PushNotifier } from "../push/notifier.ts";
import type { Safety } from "../safety/safety.ts";
import type { MetadataStore, PresenceStore } from "../storage/types.ts";
import type { MessageView } from "../lifecycle/message-view.ts";
import type { Bus } from "../bus/bus.ts";
import type { CursorWriter } from "./cursor-writer.ts";
import type { SnowflakeGenerator } from "./snowflake.ts";

export interface NodeContext {
  config: Config;
  /** Time for every decision by elapsed time (rate limits, sweeps); message timestamps use Date.now. */
  clock: Clock;
  bus: Bus;
  /** The store as devices read it (tombstones, no holes; lifecycle/message-view.ts). */
  messages: MessageView;
  metadata: MetadataStore;
  presence: PresenceStore;
  metrics: Metrics;
  log: Logger;
  ids: SnowflakeGenerator;
  cursors: CursorWriter;
  media: MediaService;
  /** Null when push is disabled. */
  push: PushNotifier | null;
  /** Blocks, privacy settings, contacts, the user registry and moderation (src/safety). */
  safety: Safety;
  /** The MLS delivery service: KeyPackages, commits, the checks encrypted messages pass (src/e2ee). */
  e2ee: E2ee;
}
