// Cluster mode against real engines: two edge processes on NATS, Redis and PostgreSQL.
// Each engine runs as a child process of this test on its own loopback port.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { Client, MessageKind, type WireMessage } from "../../src/sdk/index.ts";
import { startChild, type ChildServer } from "../helpers/child-server.ts";
import { collect, nextEvent, text, until } from "../helpers/harness.ts";
import { startNats } from "../helpers/services/nats.ts";
import { startPostgres } from "../helpers/services/postgres.ts";
import { startRedis } from "../helpers/services/redis.ts";
import { unlimitedEnv } from "../helpers/limits.ts";
import { ClusterDiagnostics } from "../helpers/cluster-diagnostics.ts";
import { sharedSecrets } from "../helpers/cluster-secrets.ts";

type Service = Awaited<ReturnType<typeof startNats>>;
let nats: Service;
let redis: Awaited<ReturnType<typeof startRedis>>;
let pg: Awaited<ReturnType<typeof startPostgres>>;
let root: string;
let keysFile: string;
/** The key files and media directory every edge shares (cluster mode refuses per-edge ones). */
let shared: Record<string, string>;
const edges: ChildServer[] = [];
/** How long a push that crosses processes may take on a loaded machine (see the safety test). */
const SLOW_MS = 30_000;
/** Failures name the clients' connection losses and end with both edges' logs. */
const diagnostics = new ClusterDiagnostics(() => ({ "edge 1": e1, "edge 2": e2 }));
const clusterTest = diagnostics.test.bind(diagnostics);

async function startEdge(nodeId: number): Promise<ChildServer> {
  const edge = await startChild({
    MSGR_SERVER_NODE_ID: String(nodeId),
    MSGR_SERVER_DATA_DIR: join(root, `edge-${nodeId}`),
    ...shared,
    MSGR_BACKENDS_BUS: "nats",
    MSGR_BACKENDS_PRESENCE: "redis",
    MSGR_BACKENDS_METADATA: "postgres",
    MSGR_BACKENDS_MESSAGES: "postgres",
    MSGR_NATS_SERVERS: nats.url,
    MSGR_REDIS_URL: redis.url,
    MSGR_POSTGRES_URL: pg.url,
    // Generous: a loaded machine stalls processes for a second or two, which must not read as a dead connection.
    MSGR_HEARTBEAT_INTERVAL_MS: "1000",
    MSGR_HEARTBEAT_TIMEOUT_MS: "10000",
    ...unlimitedEnv(),
    MSGR_LIMITS_MAX_GROUP_SIZE: "256",
    MSGR_LOG_LEVEL: "info",
  });
  edges.push(edge);
  return edge;
}

async function token(user: string, device: string): Promise<string> {
  return mintAccessToken(await loadSigningKey(keysFile), { user, device, ttlSec: 3600, audience: "msgr" });
}

/** A synced client of `user` on the given edges (the first is where it connects; the rest are failover). */
async function client(user: string, urls: string[], device = `${user}-dev`, cursors?: Record<string, number>): Promise<Client> {
  const c = new Client({ url: urls, token: () => token(user, device), minBackoffMs: 50, maxBackoffMs: 500, cursors });
  diagnostics.track(c, device);
  const synced = nextEvent(c, "synced", undefined, 30_000);
  await c.connect();
  await synced;
  return c;
}

let e1: ChildServer;
let e2: ChildServer;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-cluster-"));
  ({ keysFile, env: shared } = await sharedSecrets(root));
  [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  e1 = await startEdge(1); // the first edge applies the migrations
  e2 = await startEdge(2);
}, 120_000);

afterAll(async () => {
  for (const c of diagnostics.clients) c.close();
  for (const e of edges) e.proc.kill(9);
  await Promise.allSettled([nats?.stop(), redis?.stop(), pg?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

const textsIn = (log: WireMessage[], conv: string) => log.filter((m) => m.conv === conv && m.kind === MessageKind.Text).map(text);

describe("cluster: two edge processes on NATS, Redis and PostgreSQL", () => {
  clusterTest("1:1 chat with the two users on different processes, with receipts", async () => {
    const alice = await client("alice", [e1.wsUrl]);
    const bob = await client("bob", [e2.wsUrl]);
    const conv = await alice.openDirect("bob");
    const got = nextEvent(bob, "message", (m) => m.conv === conv.id);
    const ack = await alice.send(conv.id, "across the bus");
    expect(text(await got)).toBe("across the bus");
    const read = nextEvent(alice, "receipt", (r) => r.user === "bob" && r.read >= ack.seq);
    await bob.markRead(conv.id, ack.seq);
    expect((await read).allRead).toBe(ack.seq);
  });

  clusterTest("a group of 256 spread over both processes: every member device gets every message once, in one order", async () => {
    const users = Array.from({ length: 256 }, (_, i) => `g${i}`);
    const members = await Promise.all(users.map((u, i) => client(u, [i % 2 ? e2.wsUrl : e1.wsUrl])));
    const logs = members.map(collect);
    const g = await members[0]!.createGroup("big", users.slice(1));
    await until(() => members.every((m) => m.cursors()[g.id] !== undefined), 30_000, "every member to learn the group");
    // Four senders on both processes, 10 messages each, all at once.
    const senders = [0, 1, 2, 3];
    await Promise.all(senders.flatMap((s) => Array.from({ length: 10 }, (_, k) => members[s]!.send(g.id, `s${s}-${k}`))));
    await until(() => logs.every((l) => textsIn(l, g.id).length === 40), 60_000, "every member to receive 40 messages");
    const order = textsIn(logs[0]!, g.id);
    for (const l of logs) expect(textsIn(l, g.id)).toEqual(order);
    const seqs = logs[0]!.filter((m) => m.conv === g.id).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  }, 120_000);

  clusterTest("presence and typing across processes", async () => {
    const viewer = await client("pv", [e1.wsUrl]);
    // pt chose the conversation (presence shows only then, protocol §10.3), from a device it then closes.
    const setup = await client("pt", [e2.wsUrl], "pt-setup");
    const conv = await setup.openDirect("pv");
    await viewer.openDirect("pt");
    setup.close();
    await until(async () => !(await viewer.watchPresence(["pt"]))[0]!.online, 10_000, "pt offline");
    const online = nextEvent(viewer, "presence", (p) => p.user === "pt" && p.online);
    const target = await client("pt", [e2.wsUrl]);
    await online;
    const typing = nextEvent(viewer, "typing", (t) => t.user === "pt");
    target.typing(conv.id, true);
    expect((await typing).on).toBe(true);
    const offline = nextEvent(viewer, "presence", (p) => p.user === "pt" && !p.online);
    target.close();
    expect((await offline).lastSeen).toBeGreaterThan(0);
  });

  // Its pushes cross processes through NATS and PostgreSQL on a machine the whole run loads. In
  // four full CI runs in one bun test process (7c8a363 to dd8867d) it failed: three times a wait
  // ran out, once something failed within 370 ms; never alone, nor under two CPU hogs. Since then
  // the SDK restores a watch after a reconnect (a dropped connection lost it), every file runs in
  // a process of its own (test/run.sh), and a failure names the clients' connection losses and
  // ends with both edges' logs. The waits allow 30 s: a re-decision that is lost, not late,
  // still fails here.
  clusterTest("safety across processes: a block, a privacy change and a ban made through one process are in force on the other", async () => {
    const alice = await client("sx-alice", [e1.wsUrl]);
    const mallory = await client("sx-mallory", [e2.wsUrl]);
    const malloryLaptop = await client("sx-mallory", [e1.wsUrl], "sx-mallory-laptop");
    const conv = await alice.openDirect("sx-mallory");
    await mallory.openDirect("sx-alice");
    // Each process has now cached both users' block lists (the sends check them).
    await mallory.send(conv.id, "hi");
    await alice.send(conv.id, "hello");
    expect(await mallory.watchPresence(["sx-alice"])).toEqual([{ user: "sx-alice", online: true, lastSeen: 0 }]);

    // The block is stored through process 1; process 2 hears of it on NATS, re-decides the
    // watch (Mallory sees Alice go offline) and drops its cached block lists. The push alone
    // does not prove the second: a re-decision queued for an earlier change may read the
    // block from the store first. So the test waits until process 2 refuses Mallory (a
    // DIRECT_OPEN to Alice changes nothing when it passes), then checks the send.
    const dropped = nextEvent(mallory, "presence", (p) => p.user === "sx-alice" && !p.online, SLOW_MS);
    await alice.block("sx-mallory");
    await dropped;
    await until(() => mallory.openDirect("sx-alice").then(() => false, (e: { code?: number }) => e.code === 1104), SLOW_MS, "process 2 to refuse Mallory");
    await expect(mallory.send(conv.id, "still there?")).rejects.toMatchObject({ code: 1104 });
    const back = nextEvent(mallory, "presence", (p) => p.user === "sx-alice" && p.online, SLOW_MS);
    await alice.unblock("sx-mallory");
    await back;

    // A privacy change through process 1 hides Alice's online state from Mallory on process 2.
    const hidden = nextEvent(mallory, "presence", (p) => p.user === "sx-alice" && !p.online, SLOW_MS);
    await alice.setPrivacy({ online: "nobody" });
    await hidden;

    // A ban through process 1's admin API closes Mallory's devices on both processes.
    const closed = [nextEvent(mallory, "disconnected", undefined, SLOW_MS), nextEvent(malloryLaptop, "disconnected", undefined, SLOW_MS)];
    const admin = await mintAccessToken(await loadSigningKey(keysFile), { user: "ops", device: "cli", ttlSec: 600, audience: "msgr", admin: true });
    const res = await fetch(`${e1.httpUrl}/v1/admin/users/sx-mallory/ban`, { method: "POST", headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    for (const d of await Promise.all(closed)) expect(d).toMatchObject({ code: 4504, willReconnect: false });
    const upgrade = await fetch(e2.wsUrl.replace("ws:", "http:"), {
      headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", authorization: `Bearer ${await token("sx-mallory", "sx-mallory-dev")}` },
    });
    expect(upgrade.status).toBe(403);
    expect(((await upgrade.json()) as { code: string }).code).toBe("user-banned");
  });

  clusterTest("a device that moves to another process resumes from its cursors", async () => {
    const sender = await client("mover-peer", [e1.wsUrl]);
    const conv = await sender.openDirect("mover");
    const first = await client("mover", [e1.wsUrl]);
    await sender.send(conv.id, "before");
    await until(() => first.cursors()[conv.id] === 1);
    const saved = first.cursors();
    first.close();
    for (let i = 0; i < 20; i++) await sender.send(conv.id, `away ${i}`);
    const moved = new Client({ url: e2.wsUrl, token: () => token("mover", "mover-dev"), cursors: saved });
    diagnostics.track(moved, "mover-dev");
    const log = collect(moved);
    const synced = nextEvent(moved, "synced");
    await moved.connect();
    await synced;
    expect(textsIn(log, conv.id)).toEqual(Array.from({ length: 20 }, (_, i) => `away ${i}`));
  });

  clusterTest("nats-server restarted during traffic: every acknowledged message reaches the other process", async () => {
    const a = await client("na", [e1.wsUrl]);
    const b = await client("nb", [e2.wsUrl]);
    const conv = await a.openDirect("nb");
    const log = collect(b);
    const acked: string[] = [];
    // One send at a time, each after the last one's ack, until 100 more were acked after the
    // restart: traffic surely spans it, whatever the machine's speed.
    let restarted = false;
    let afterRestart = 0;
    const sending = (async () => {
      for (let i = 0; !restarted || afterRestart < 100; i++) {
        await a.send(conv.id, `n${i}`, { cid: `n${i}` });
        acked.push(`n${i}`);
        if (restarted) afterRestart++;
      }
    })();
    await until(() => acked.length >= 30);
    await nats.restart();
    restarted = true;
    await sending;
    await until(() => textsIn(log, conv.id).length >= acked.length, 30_000, "every acknowledged message at the other process");
    expect(textsIn(log, conv.id)).toEqual(acked);
  }, 90_000);

  clusterTest("redis-server restarted: presence recovers within one heartbeat timeout, no message lost", async () => {
    const a = await client("ra", [e1.wsUrl]);
    const b = await client("rb", [e2.wsUrl]);
    const conv = await a.openDirect("rb");
    await b.openDirect("ra"); // both chose the conversation: presence shows (protocol §10.3)
    await redis.restart();
    const log = collect(b);
    await a.send(conv.id, "after redis restart");
    await until(() => textsIn(log, conv.id).includes("after redis restart"), 10_000);
    // Heartbeats re-register both devices within one timeout of the restart. Presence reads may
    // fail while the edges' Redis clients reconnect: that is a retryable answer, asked again.
    await until(
      () => a.watchPresence(["rb"]).then((seen) => seen[0]!.online, () => false),
      30_000,
      "rb to be seen online again",
    );
  }, 60_000);

  clusterTest("one edge process killed with SIGKILL during traffic: its clients fail over, nothing acknowledged is lost or duplicated", async () => {
    const e3 = await startEdge(3);
    const a = await client("ka", [e3.wsUrl, e1.wsUrl, e2.wsUrl]);
    const b = await client("kb", [e2.wsUrl]);
    const conv = await a.openDirect("kb");
    const log = collect(b);
    const acks = new Map<string, number>();
    const cids = Array.from({ length: 300 }, (_, i) => `k${i}`);
    // Ten sends in flight at a time, so the kill lands while some are unacknowledged.
    const sends: Promise<unknown>[] = [];
    let killed = false;
    const sending = (async () => {
      for (const [i, cid] of cids.entries()) {
        sends.push(a.send(conv.id, cid, { cid }).then((r) => acks.set(cid, r.seq)));
        if (i >= 10) await sends[i - 10];
        if (acks.size >= 50 && !killed) {
          killed = true;
          e3.proc.kill("SIGKILL");
        }
      }
    })();
    await sending;
    // The SDK reconnects to the next URL and resends every unacknowledged client id.
    await Promise.all(sends);
    await until(() => textsIn(log, conv.id).length >= cids.length, 30_000, "every message at the receiver");
    const got = textsIn(log, conv.id);
    expect(got.length).toBe(cids.length);
    expect(new Set(got).size).toBe(cids.length);
    const seqs = log.filter((m) => m.conv === conv.id).map((m) => m.seq);
    expect(seqs).toEqual(cids.map((_, i) => i + 1));
  }, 90_000);
});
