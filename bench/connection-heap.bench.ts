// What one idle connection keeps on msgr's JavaScript heap: a server with embedded defaults runs
// in this process, a child process opens connections to it through the SDK (CONNECT and SYNC, as
// the connections scenario's devices do), and the heap is compared before and after a batch, after
// full collections. Per connection: the cells by class from a heap snapshot and their bytes
// ("Cell Butterfly": out-of-line storage, such as the tables of the Maps that index connections;
// a table grows by doubling, so a batch that takes one past a power of two shows a whole step). The connections scenario's RSS per connection adds the native side (uWebSockets,
// the allocators' slack) and moves by ±20% between rounds; this moves by nothing, so it shows what
// a change to per-connection state does.
//
// Two batches: devices the server has seen before (a reconnect), then new ones (a first connect,
// which also registers the user and the device). Users have no conversations.
// Run: bun bench/connection-heap.bench.ts [--connections N]

import { heapStats } from "bun:jsc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { msgrAdapter } from "./adapters/msgr.ts";
import type { Conn } from "./adapters/types.ts";
import { ensureEmbeddedKeyring } from "../src/auth/keyring.ts";
import { resolveConfig } from "../src/config/config.ts";
import { createLogger, startServer } from "../src/server.ts";
import { unlimitedEnv } from "../test/helpers/limits.ts";

const { values } = parseArgs({ options: { connections: { type: "string", default: "2000" }, client: { type: "string" }, keys: { type: "string" } } });
const N = Number(values.connections);
/** Connections opened first and kept, so that the measured batches find the code compiled. */
const WARM_UP = 1_000;
/** Connections opened at once by the child. */
const CONCURRENCY = 50;
/** Time for the node's sweep (once a second) to shed what the batch's connections no longer need. */
const SETTLE_MS = 2_500;

/** The child: connects on "open FROM", closes everything on "close", answers each with a line. */
async function client(url: string, keysFile: string): Promise<void> {
  const adapter = await msgrAdapter({ name: "msgr", protocol: "msgr", endpoints: [url], keysFile, heartbeatMs: 30_000 });
  let open: Conn[] = [];
  const batch = async (from: number, n: number) => {
    for (let i = 0; i < n; i += CONCURRENCY) {
      const conns = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n - i) }, (_, j) => adapter.connect(`u${from + i + j}`, "bench", url)));
      open.push(...conns);
    }
  };
  const warm = open;
  await batch(1_000_000, WARM_UP);
  open = [];
  console.log(`warm ${warm.length}`);
  for await (const line of console) {
    const [cmd, arg] = line.split(" ");
    if (cmd === "open") await batch(Number(arg), N);
    else if (cmd === "close") {
      for (const c of open) c.close();
      open = [];
    }
    console.log(`done ${cmd}`);
  }
}

interface Snapshot {
  bytes: number;
  cells: Map<string, { n: number; bytes: number }>;
}

/** Compiled code and its metadata: the JIT's, freed and made as it tiers up, not any connection's. */
const CODE = /(CodeBlock|Executable|Structure|SymbolTable)$/;

async function snapshot(): Promise<Snapshot> {
  await Bun.sleep(SETTLE_MS);
  Bun.gc(true);
  Bun.gc(true);
  const s = Bun.generateHeapSnapshot();
  const cells = new Map<string, { n: number; bytes: number }>();
  // JSC's format: [id, size, class index, flags] per node.
  for (let i = 0; i < s.nodes.length; i += 4) {
    const name = s.nodeClassNames[s.nodes[i + 2]!]!;
    const c = cells.get(name) ?? { n: 0, bytes: 0 };
    c.n++;
    c.bytes += s.nodes[i + 1]!;
    cells.set(name, c);
  }
  return { bytes: heapStats().heapSize, cells };
}

function report(title: string, a: Snapshot, b: Snapshot): void {
  const rows = [...new Set([...a.cells.keys(), ...b.cells.keys()])]
    .filter((k) => !CODE.test(k))
    .map((k) => ({ k, n: ((b.cells.get(k)?.n ?? 0) - (a.cells.get(k)?.n ?? 0)) / N, bytes: ((b.cells.get(k)?.bytes ?? 0) - (a.cells.get(k)?.bytes ?? 0)) / N }))
    .filter((r) => Math.abs(r.bytes) >= 2)
    .sort((x, y) => y.bytes - x.bytes);
  const cells = rows.reduce((t, r) => t + r.n, 0);
  const cellBytes = rows.reduce((t, r) => t + r.bytes, 0);
  console.log(`\n${title}, per connection: ${cells.toFixed(1)} cells of ${cellBytes.toFixed(0)} bytes (compiled code left out); the heap grew ${((b.bytes - a.bytes) / N).toFixed(0)} bytes`);
  console.log("| cells | per connection | bytes |\n| --- | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.k} | ${r.n.toFixed(2)} | ${r.bytes.toFixed(0)} |`);
}

async function measure(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "msgr-connection-heap-"));
  const keysFile = await ensureEmbeddedKeyring(join(dir, "keys"));
  const env = { MSGR_SERVER_HOST: "127.0.0.1", MSGR_SERVER_PORT: "0", MSGR_SERVER_DATA_DIR: join(dir, "data"), MSGR_AUTH_KEYS_FILE: keysFile, MSGR_LOG_LEVEL: "warn", ...unlimitedEnv() };
  const config = resolveConfig({}, env);
  const server = await startServer(config, { log: createLogger(config) });
  const child = Bun.spawn([process.execPath, import.meta.path, "--client", server.wsUrl, "--keys", keysFile, "--connections", String(N)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const line = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const r = await lines.read();
      if (r.done) throw new Error("the client process ended");
      buffered += r.value;
    }
    const i = buffered.indexOf("\n");
    const l = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return l;
  };
  const ask = async (cmd: string) => {
    child.stdin.write(`${cmd}\n`);
    await child.stdin.flush();
    return line();
  };
  try {
    await line();
    // Seen once, so that the first batch is a reconnect.
    await ask("open 0");
    await ask("close");
    const before = await snapshot();
    await ask("open 0");
    const known = await snapshot();
    await ask(`open ${N}`);
    const fresh = await snapshot();
    console.log(`msgr at ${(await Bun.$`git rev-parse --short HEAD`.quiet().nothrow()).stdout.toString().trim() || "?"}, ${N.toLocaleString("en-US")} connections per batch, Bun ${Bun.version}`);
    report("devices seen before", before, known);
    report("new users and devices", known, fresh);
  } finally {
    child.kill();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.client) await client(values.client, values.keys!);
else await measure();
