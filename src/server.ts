// Composition root: builds one edge node from a Config (embedded backends by default, cluster
// backends when configured) and runs it until stopped.

import { mkdirSync } from "node:fs";
import pino, { type Logger } from "pino";
import { systemClock, type Clock } from "./clock.ts";
import type { NodeContext } from "./actors/context.ts";
import { CursorWriter } from "./actors/cursor-writer.ts";
import { Node } from "./actors/node.ts";
import { SnowflakeGenerator } from "./actors/snowflake.ts";
import { ensureEmbeddedKeyring, loadKeyring } from "./auth/keyring.ts";
import { requireSharedInCluster, type Config } from "./config/config.ts";
import { startEdge, WS_PATH } from "./edge/edge.ts";
import { Readiness } from "./health/readiness.ts";
import { listenerUrl, startMetricsListener } from "./metrics/metrics-endpoint.ts";
import { Metrics } from "./metrics/metrics.ts";
import { openTracing } from "./metrics/tracing.ts";
import { DisconnectCode } from "./proto/codes.ts";
import { subjects } from "./bus/subjects.ts";
import { openBackends } from "./backends.ts";
import { unprotectedLinks } from "./connect/posture.ts";
import { LocalDiskObjectStore } from "./media/local-disk-store.ts";
import { MediaService } from "./media/media-service.ts";
import { openObjectStore } from "./media/open.ts";
import { startMediaSweeper } from "./media/sweeper.ts";
import { openPushNotifier } from "./push/open.ts";
import { Safety } from "./safety/safety.ts";
import { E2ee } from "./e2ee/service.ts";
import { MessageView } from "./lifecycle/message-view.ts";
import { IdleCollector } from "./idle-collector.ts";

export interface RunningServer {
  /** ws://host:port/v1/ws (wss:// with server.tlsCertFile) */
  wsUrl: string;
  /** http://host:port */
  httpUrl: string;
  port: number;
  /** Where GET /metrics is served: this edge, or the listener of metrics.listen. */
  metricsUrl: string;
  node: Node;
  /** Drains and stops: stop accepting, finish in-flight commands, flush, close sockets (4000), close stores. */
  stop(): Promise<void>;
}

/** A backend that has not answered its readiness probe within this long is reported down. */
const READY_PROBE_TIMEOUT_MS = 2_000;
/** How often the idle collector compares the node's traffic with its busiest interval. */
const IDLE_COLLECT_INTERVAL_MS = 1_000;

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

/** What a caller may substitute (tests): the logger, and the clock that decides by elapsed time. */
export interface ServerOptions {
  log?: Logger;
  clock?: Clock;
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  // Before anything is opened: an edge of a cluster with a secret of its own would half work.
  requireSharedInCluster(config);
  const log = opts.log ?? createLogger(config);
  const clock = opts.clock ?? systemClock;
  mkdirSync(config.server.dataDir, { recursive: true, mode: 0o700 });
  const keysFile = config.auth.keysFile || (await ensureEmbeddedKeyring(config.server.dataDir));
  const keyring = await loadKeyring(keysFile);
  for (const link of unprotectedLinks(config, "edge")) log.warn({ link }, "unprotected link to an engine; see docs/self-hosting.md, Security");
  const backends = await openBackends(config, log);
  const { bus, presence, tickets } = backends;
  const metrics = new Metrics();
  metrics.tracer = await openTracing(config.tracing, config.server.nodeId);
  // Local media URLs point at this edge, whose port is known only once it listens.
  let publicUrl = config.media.publicUrl;
  const objects = await openObjectStore(config, () => publicUrl);
  const safety = new Safety({ store: backends.safety, bus, config, presence, log });
  await safety.start();
  const e2ee = new E2ee({ store: backends.e2ee, bus, config, clock, log });
  const ctx: NodeContext = {
    config,
    clock,
    bus,
    // Devices read removed and disappeared messages as tombstones.
    messages: new MessageView(backends.messages, safety.removed, clock),
    metadata: backends.metadata,
    presence,
    metrics,
    log,
    ids: new SnowflakeGenerator(config.server.nodeId),
    cursors: new CursorWriter(backends.metadata),
    media: new MediaService(config, objects, backends.metadata, log, clock),
    push: config.push.enabled ? await openPushNotifier(config, backends.metadata, presence, log, clock, (service, outcome) => metrics.pushes.inc({ service, outcome })) : null,
    safety,
    e2ee,
  };
  const node = new Node(ctx);
  // Events lost while the bus was down are in the store: bring every device up to date.
  const offRecovered = bus.onRecovered(() => node.recoverFromBusOutage());
  // A node that died cannot say its users went offline; the presence store notices for it.
  const offExpired = presence.onExpired((user, lastSeen) =>
    bus.publish(subjects.presence(user), { t: "presence", info: { user, online: false, lastSeen } }),
  );
  const readiness = new Readiness({ ...backends, nodeId: config.server.nodeId, timeoutMs: READY_PROBE_TIMEOUT_MS });
  readiness.registerMetrics(metrics.registry);
  let accepting = true;
  const localMedia = objects instanceof LocalDiskObjectStore ? objects : null;
  const edge = startEdge({ config, clock, keyring, metadata: backends.metadata, users: backends.safety, tickets, node, localMedia, ready: () => accepting, readiness });
  const metricsListener = config.metrics.listen ? startMetricsListener(config.metrics.listen, metrics.registry, config.metrics.token) : null;

  const sweeper = setInterval(() => node.sweep(clock.now()), Math.min(1000, config.heartbeat.intervalMs / 2));
  const idle = new IdleCollector(() => metrics.framesIn.n + metrics.framesOut.n - 2 * metrics.heartbeats.n, () => Bun.gc(true));
  const collector = setInterval(() => idle.tick(), IDLE_COLLECT_INTERVAL_MS);
  const mediaSweeper = startMediaSweeper(ctx.media, config.media.sweepIntervalMs, log);
  const retention = config.storage.retentionSeconds;
  // Stores with a TTL (the log-backed one) expire messages themselves.
  const pruner =
    retention > 0 && backends.messages.prunes
      ? setInterval(
          () => void backends.messages.pruneBefore(clock.now() - retention * 1000).catch((err) => log.error({ err }, "prune failed")),
          Math.max(250, Math.min(60_000, (retention * 1000) / 4)),
        )
      : undefined;
  // Disappearing messages: reads hide them as they expire; this deletes them (the log-backed
  // store's rows and entries expire by TTL instead).
  let expiring: Promise<unknown> | null = null;
  const expirySweeper = backends.messages.prunes
    ? setInterval(() => {
        expiring ??= backends.messages
          .pruneExpired(clock.now())
          .catch((err) => log.error({ err }, "deleting disappeared messages failed"))
          .finally(() => (expiring = null));
      }, config.storage.expirySweepMs)
    : undefined;

  const host = edge.hostname === "0.0.0.0" || edge.hostname === "::" ? "127.0.0.1" : edge.hostname;
  const httpUrl = `${edge.tls ? "https" : "http"}://${host}:${edge.port}`;
  publicUrl ||= httpUrl;
  const metricsUrl = `${metricsListener ? listenerUrl(metricsListener) : httpUrl}/metrics`;
  log.info({ url: httpUrl, ws: WS_PATH, metrics: metricsUrl, dataDir: config.server.dataDir, synchronous: config.storage.synchronous, backends: config.backends }, "edge listening");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Load balancers see /readyz fail first and stop routing here, while this node still
      // serves everything; only then does the drain begin.
      readiness.startDraining();
      if (config.shutdown.drainDelayMs > 0) {
        log.info({ delayMs: config.shutdown.drainDelayMs }, "not ready: /readyz answers 503; the drain starts after the delay");
        await Bun.sleep(config.shutdown.drainDelayMs);
      }
      accepting = false;
      node.draining = true;
      log.info({ connections: node.sessionCount }, "draining");
      edge.stop(false);
      clearInterval(sweeper);
      clearInterval(collector);
      if (pruner) clearInterval(pruner);
      if (expirySweeper) clearInterval(expirySweeper);
      await expiring;
      await mediaSweeper.stop();
      await node.quiesce(config.shutdown.drainTimeoutMs);
      await backends.messages.flush();
      await ctx.cursors.flush();
      for (const s of node.sessions()) s.close(DisconnectCode.Shutdown, "server shutting down; reconnect");
      await Bun.sleep(50);
      edge.stop(true);
      offRecovered();
      offExpired();
      safety.close();
      e2ee.close();
      ctx.push?.close();
      readiness.close();
      metricsListener?.stop(true);
      await metrics.tracer?.shutdown().catch((err: unknown) => log.warn({ err }, "flushing traces failed"));
      await objects.close();
      await backends.close();
      log.info("stopped");
    })());

  return { wsUrl: `${edge.tls ? "wss" : "ws"}://${host}:${edge.port}${WS_PATH}`, httpUrl, metricsUrl, port: edge.port, node, stop };
}
