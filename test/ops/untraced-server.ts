// Run by tracing.test.ts in a process of its own: starts and stops a server with the default
// config (tracing off) and prints the OpenTelemetry SDK modules that were loaded meanwhile (the API alone is
// loaded by prom-client, which depends on it).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { resolveConfig } from "../../src/config/config.ts";
import { startServer } from "../../src/server.ts";

const dataDir = mkdtempSync(join(tmpdir(), "msgr-untraced-"));
const server = await startServer(resolveConfig({ server: { port: 0, dataDir } }, {}), { log: pino({ level: "silent" }) });
const res = await fetch(`${server.httpUrl}/metrics`);
await res.text();
await server.stop();
rmSync(dataDir, { recursive: true, force: true });
console.log(JSON.stringify({ tracer: server.node.ctx.metrics.tracer, loaded: Object.keys(require.cache).filter((k) => /@opentelemetry\/(sdk-trace|exporter-trace-otlp-http|resources)\//.test(k)) }));
