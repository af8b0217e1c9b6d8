// Composition root: builds one edge node from a Config (embedded backends by default, cluster
// backends when configured) and runs it until stopped.

import { mkdirSync } from "node:fs";
import pino, { type Logger } from "pino";
import type { NodeContext } from "./actors/context.ts";
import { CursorWriter } from "./actors/cursor-writer.ts";
import { Node } from "./actors/node.ts";
import { SnowflakeGenerator } from "./actors/snowflake.ts";
import { ensureEmbeddedKeyring, loadKeyring } from "./auth/keyring.ts";
import type { Config } from "./config/config.ts";
import { startEdge, WS_PATH } from "./edge/edge.ts";
import { Metrics } from "./metrics/metrics.ts";
import { DisconnectCode } from "./proto/codes.ts";
import { subjects } from "./actors/subjects.ts";
import { openBackends } from "./backends.ts";
import { unprotectedLinks } from "./connect/posture.ts";
import { LocalDiskObjectStore } from "./media/local-disk-store.ts";
import { MediaService } from "./media/media-service.ts";
import { openObjectStore } from "./media/open.ts";
import { openPushNotifier } from "./push/open.ts";

export interface RunningServer {
  /** ws://host:port/v1/ws (wss:// with server.tlsCertFile) */
  wsUrl: string;
  /** http://host:port */
  httpUrl: string;
  port: number;
  node: Node;
  /** Drains and stops: stop accepting, finish in-flight commands, flush, close sockets (4000), close stores. */
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.log.level,
    base: { node: config.server.nodeId },
    // Credentials never reach a log line, whatever a caller passes.
    redact: {
      paths: ["token", "*.token", "authorization", "*.authorization", "headers", "*.headers", "ticket", "*.ticket", "password", "*.password", "secretKey", "*.secretKey", "seed", "*.seed"],
      censor: "[redacted]",
    },
  });
}

export async function startServer(config: Config, log: Logger = createLogger(config)): Promise<RunningServer> {
  mkdirSync(config.server.dataDir, { recursive: true, mode: 0o700 });
  const keysFile = config.auth.keysFile || (await ensureEmbeddedKeyring(config.server.dataDir));
  const keyring = await loadKeyring(keysFile);
  for (const link of unprotectedLinks(config, "edge")) log.warn({ link }, "unprotected link to an engine; see docs/self-hosting.md, Security");
  const backends = await openBackends(config, log);
  const { bus, presence, tickets } = backends;
  const metrics = new Metrics();
  // Local media URLs point at this edge, whose port is known only once it listens.
  let publicUrl = config.media.publicUrl;
  const objects = await openObjectStore(config, () => publicUrl);
  const ctx: NodeContext = {
    config,
    bus,
    messages: backends.messages,
    metadata: backends.metadata,
    presence,
    metrics,
    log,
    ids: new SnowflakeGenerator(config.server.nodeId),
    cursors: new CursorWriter(backends.metadata),
    media: new MediaService(config, objects, backends.metadata, log),
    push: config.push.enabled ? await openPushNotifier(config, backends.metadata, presence, log) : null,
  };
  const node = new Node(ctx);
  // Events lost while the bus was down are in the store: bring every device up to date.
  const offRecovered = bus.onRecovered(() => node.recoverFromBusOutage());
  // A node that died cannot say its users went offline; the presence store notices for it.
  const offExpired = presence.onExpired((user, lastSeen) =>
    bus.publish(subjects.presence(user), { t: "presence", info: { user, online: false, lastSeen } }),
  );
  let accepting = true;
  const localMedia = objects instanceof LocalDiskObjectStore ? objects : null;
  const edge = startEdge({ config, keyring, metadata: backends.metadata, tickets, node, localMedia, ready: () => accepting });

  const sweeper = setInterval(() => node.sweep(Date.now()), Math.min(1000, config.heartbeat.intervalMs / 2));
  const retention = config.storage.retentionSeconds;
  // Stores with a TTL (the log-backed one) expire messages themselves.
  const pruner =
    retention > 0 && backends.messages.prunes
      ? setInterval(
          () => void backends.messages.pruneBefore(Date.now() - retention * 1000).catch((err) => log.error({ err }, "prune failed")),
          Math.max(250, Math.min(60_000, (retention * 1000) / 4)),
        )
      : undefined;

  const host = edge.hostname === "0.0.0.0" || edge.hostname === "::" ? "127.0.0.1" : edge.hostname;
  const httpUrl = `${edge.tls ? "https" : "http"}://${host}:${edge.port}`;
  publicUrl ||= httpUrl;
  log.info({ url: httpUrl, ws: WS_PATH, dataDir: config.server.dataDir, synchronous: config.storage.synchronous, backends: config.backends }, "edge listening");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      accepting = false;
      node.draining = true;
      log.info({ connections: node.sessionCount }, "draining");
      edge.stop(false);
      clearInterval(sweeper);
      if (pruner) clearInterval(pruner);
      await node.quiesce(Date.now() + config.shutdown.drainTimeoutMs);
      await backends.messages.flush();
      await ctx.cursors.flush();
      for (const s of [...node.sessions()]) s.close(DisconnectCode.Shutdown, "server shutting down; reconnect");
      await Bun.sleep(50);
      edge.stop(true);
      offRecovered();
      offExpired();
      ctx.push?.close();
      await objects.close();
      await backends.close();
      log.info("stopped");
    })());

  return { wsUrl: `${edge.tls ? "wss" : "ws"}://${host}:${edge.port}${WS_PATH}`, httpUrl, port: edge.port, node, stop };
}
