// The worker role (`msgr worker`): the write-behind worker plus its /metrics and /healthz.

import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import { unprotectedLinks } from "../connect/posture.ts";
import { openLogAndHistory } from "../storage/jetstream/open.ts";
import { serveMetrics } from "../metrics/metrics-endpoint.ts";
import { WorkerMetrics } from "./metrics.ts";
import { WriteBehindWorker } from "./write-behind.ts";

export interface RunningWorker {
  /** http://host:port of /metrics and /healthz, when enabled. */
  metricsUrl: string | null;
  /** Finishes the batch in hand (unless the store is down), then closes everything. */
  stop(): Promise<void>;
}

/**
 * TESTS ONLY: MSGR_FAULT_KILL_AFTER_STORE_WRITES=N makes the process kill itself with SIGKILL
 * after its N-th store write and before acknowledging that batch to the log: the crash window
 * the write path must survive without loss or duplicates.
 */
function faultInjection(env: Record<string, string | undefined>): (() => void) | undefined {
  const n = Number(env.MSGR_FAULT_KILL_AFTER_STORE_WRITES ?? 0);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  let writes = 0;
  return () => {
    if (++writes === n) process.kill(process.pid, "SIGKILL");
  };
}

export async function startWorker(config: Config, log: Logger, env: Record<string, string | undefined> = process.env): Promise<RunningWorker> {
  for (const link of unprotectedLinks(config, "worker")) log.warn({ link }, "unprotected link to an engine; see docs/self-hosting.md, Security");
  const { messageLog, history } = await openLogAndHistory(config, log, `msgr-worker-${config.server.nodeId}`);
  let worker: WriteBehindWorker | undefined;
  const metrics = new WorkerMetrics(() => worker!.backlog());
  const onFatal = (err: Error) => {
    // Exit non-zero so that systemd (Restart=on-failure) starts a fresh worker.
    log.fatal({ err }, "log consumer failed; exiting");
    process.exit(1);
  };
  worker = new WriteBehindWorker(messageLog, history, { ...config.worker, afterStoreWrite: faultInjection(env), onFatal }, metrics, log);
  await worker.start();

  let http: ReturnType<typeof Bun.serve> | undefined;
  if (config.worker.metricsPort > 0) {
    http = Bun.serve({
      hostname: config.worker.metricsHost,
      port: config.worker.metricsPort,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") return serveMetrics(metrics.registry, config.metrics.token, req);
        if (path === "/healthz") return new Response(messageLog.nc.isClosed() ? "log connection closed\n" : "ok\n", { status: messageLog.nc.isClosed() ? 503 : 200 });
        return new Response("not found\n", { status: 404 });
      },
    });
    log.info({ url: `http://${http.hostname}:${http.port}/metrics` }, "worker metrics listening");
  }
  return {
    metricsUrl: http ? `http://${http.hostname}:${http.port}` : null,
    async stop() {
      await worker.stop();
      http?.stop(true);
      await Promise.all([messageLog.close(), history.close()]);
    },
  };
}
