// Runs the presence and ticket contracts against a real redis-server, then what only a shared,
// networked store must do: agree across nodes, expire crashed nodes' devices, heal after Redis
// restarts empty, and hand a ticket to exactly one of many concurrent redeems.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { RedisPresenceStore } from "../../src/storage/redis/presence-store.ts";
import { RedisTicketStore } from "../../src/storage/redis/ticket-store.ts";
import { startRedis, type RedisServer } from "../helpers/services/redis.ts";
import { presenceStoreContract } from "./presence-store.contract.ts";
import { ticketStoreContract } from "./ticket-store.contract.ts";
import { until } from "../helpers/wait.ts";

let server: RedisServer;
let tests = 0;
/** Each test gets its own key prefix on the shared server, so nothing leaks between tests. */
const freshPrefix = () => `t${++tests}:`;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

presenceStoreContract("redis presence store", async () => {
  const store = await RedisPresenceStore.open(server.url, { ttlMs: 60_000, keyPrefix: freshPrefix() });
  return { store, close: () => store.close() };
});

ticketStoreContract("redis ticket store", async () => {
  const store = await RedisTicketStore.open(server.url, { keyPrefix: freshPrefix() });
  return { store, close: () => store.close() };
});


describe("redis tickets shared by several nodes", () => {
  test("of 20 concurrent redeems on two nodes exactly one gets the claims", async () => {
    const keyPrefix = freshPrefix();
    const [a, b] = await Promise.all([RedisTicketStore.open(server.url, { keyPrefix }), RedisTicketStore.open(server.url, { keyPrefix })]);
    try {
      const claims = { user: "alice", device: "phone", expiresAt: Date.now() + 60_000 };
      const ticket = await a.issue(claims, 30_000, Date.now());
      const now = Date.now();
      const redeemed = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).redeem(ticket, now)));
      expect(redeemed.filter((r) => r !== null)).toEqual([claims]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("redis presence shared by several nodes", () => {
  // Long enough that the heartbeating node keeps its device alive on a loaded machine (a heartbeat every ttl/3).
  const TTL = 1500;
  let open: RedisPresenceStore[] = [];
  /** Stores on one key prefix: separate connections, like separate nodes on one Redis. */
  const nodes = async (count: number, ttlMs = 60_000): Promise<RedisPresenceStore[]> => {
    const keyPrefix = freshPrefix();
    const stores = await Promise.all(Array.from({ length: count }, () => RedisPresenceStore.open(server.url, { ttlMs, keyPrefix })));
    open.push(...stores);
    return stores;
  };
  afterEach(async () => {
    await Promise.all(open.map((s) => s.close()));
    open = [];
  });

  test("a user is online while a device is connected on either node", async () => {
    const [a, b] = (await nodes(2)) as [RedisPresenceStore, RedisPresenceStore];
    expect(await a.deviceOnline("alice", "phone", 1, 1000)).toBe(true);
    expect(await b.deviceOnline("alice", "laptop", 2, 2000)).toBe(false);
    expect((await a.onlineDevices("alice")).sort()).toEqual(["laptop", "phone"]);
    expect(await a.deviceOffline("alice", "phone", 1, 3000)).toBe(false);
    expect(await b.get(["alice"])).toEqual([{ user: "alice", online: true, lastSeen: 0 }]);
    expect(await b.deviceOffline("alice", "laptop", 2, 4000)).toBe(true);
    expect(await a.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 4000 }]);
  });

  test("concurrent connects and disconnects from two nodes see each transition exactly once", async () => {
    const [a, b] = (await nodes(2)) as [RedisPresenceStore, RedisPresenceStore];
    const devices = Array.from({ length: 20 }, (_, i) => ({ device: `d${i}`, node: i % 2, store: i % 2 ? b : a }));
    const ups = await Promise.all(devices.map((d) => d.store.deviceOnline("alice", d.device, d.node, 1000)));
    expect(ups.filter(Boolean)).toHaveLength(1);
    const downs = await Promise.all(devices.map((d) => d.store.deviceOffline("alice", d.device, d.node, 2000)));
    expect(downs.filter(Boolean)).toHaveLength(1);
    expect(await a.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 2000 }]);
  });

  test("a crashed node's devices expire within the ttl and exactly one node reports it", async () => {
    const [crashed, a, b] = (await nodes(3, TTL)) as [RedisPresenceStore, RedisPresenceStore, RedisPresenceStore];
    const expired: { by: string; user: string; lastSeen: number }[] = [];
    a.onExpired((user, lastSeen) => expired.push({ by: "a", user, lastSeen }));
    b.onExpired((user, lastSeen) => expired.push({ by: "b", user, lastSeen }));

    const before = Date.now();
    await crashed.deviceOnline("alice", "phone", 1, before);
    const after = Date.now();
    await b.deviceOnline("bob", "phone", 3, before);
    // Node 1 stops heartbeating (it crashed); node 3 keeps bob alive.
    const beat = setInterval(() => void b.heartbeat("bob", "phone", 3, Date.now()), TTL / 3);
    try {
      await until(async () => !(await a.get(["alice"]))[0]!.online, 10_000, "alice offline");
      // Reads see the expiry at once; the event follows from a sweep.
      await until(() => expired.length > 0, 10_000, "the expiry event");
      // Several more sweeps on both nodes: none reports alice again, nor bob, who is heartbeating.
      const [sa, sb] = [a.sweeps, b.sweeps];
      await until(() => a.sweeps >= sa + 3 && b.sweeps >= sb + 3, 10_000, "three more sweeps on each node");
    } finally {
      clearInterval(beat);
    }
    expect(expired.map(({ user }) => user)).toEqual(["alice"]);
    // last seen is the expiry, on the Redis clock (the same host's clock here).
    const { lastSeen } = expired[0]!;
    expect(lastSeen).toBeGreaterThanOrEqual(before + TTL - 20);
    expect(lastSeen).toBeLessThanOrEqual(after + TTL + 20);
    expect(await a.get(["alice", "bob"])).toEqual([
      { user: "alice", online: false, lastSeen },
      { user: "bob", online: true, lastSeen: 0 },
    ]);
  });

  test("one device expiring does not hide the user's other, live device", async () => {
    const [crashed, live] = (await nodes(2, TTL)) as [RedisPresenceStore, RedisPresenceStore];
    const expired: string[] = [];
    live.onExpired((user) => expired.push(user));
    await crashed.deviceOnline("alice", "phone", 1, 1000);
    await live.deviceOnline("alice", "laptop", 2, 1000);
    const beat = setInterval(() => void live.heartbeat("alice", "laptop", 2, Date.now()), TTL / 3);
    try {
      await until(async () => (await live.onlineDevices("alice")).length === 1, 10_000, "the phone to expire");
      // Sweeps after the expiry report nothing: alice still has her laptop.
      const swept = live.sweeps;
      await until(() => live.sweeps >= swept + 2, 10_000, "two sweeps after the expiry");
      expect(await live.onlineDevices("alice")).toEqual(["laptop"]);
      expect((await live.get(["alice"]))[0]?.online).toBe(true);
    } finally {
      clearInterval(beat);
    }
    expect(expired).toEqual([]);
    expect(await live.deviceOffline("alice", "laptop", 2, 5000)).toBe(true);
    expect(await live.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 5000 }]);
  });

  test("a connection that goes silent without closing is dropped and made again", async () => {
    const proxy = await silenceableProxy(server.url);
    const keyPrefix = freshPrefix();
    const [a, b] = await Promise.all([RedisPresenceStore.open(proxy.url, { ttlMs: 60_000, keyPrefix }), RedisPresenceStore.open(server.url, { ttlMs: 60_000, keyPrefix })]);
    open.push(b);
    try {
      await a.deviceOnline("alice", "phone", 1, 1000);
      // What the cluster test once met after a Redis restart: a connection that neither answers
      // nor closes. Without ioredis's socketTimeout, this heartbeat would wait forever. With it,
      // the silent socket is destroyed, ioredis connects again (the proxy forwards new
      // connections) and sends the heartbeat there.
      proxy.silence();
      await a.heartbeat("alice", "phone", 1, 2000);
      expect(proxy.connections()).toBe(2);
      await a.deviceOffline("alice", "phone", 1, 3000);
      expect(await b.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 3000 }]);
    } finally {
      await a.close();
      proxy.close();
    }
  }, 30_000);

  // Restarts the shared server, so it comes last in the file (the stores above are closed by then).
  test("after Redis restarts empty, the next heartbeat brings the device back", async () => {
    const [a, b] = (await nodes(2)) as [RedisPresenceStore, RedisPresenceStore];
    await a.deviceOnline("alice", "phone", 1, 1000);
    await server.restart();
    // Soft state is gone: alice reads as offline until her node's next heartbeat.
    expect(await b.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 0 }]);
    await a.heartbeat("alice", "phone", 1, 2000);
    expect(await b.get(["alice"])).toEqual([{ user: "alice", online: true, lastSeen: 0 }]);
    expect(await b.onlineDevices("alice")).toEqual(["phone"]);
    expect(await a.deviceOffline("alice", "phone", 1, 3000)).toBe(true);
  });
});

/**
 * A TCP proxy in front of `redisUrl`. silence() makes every connection open at that moment drop
 * what passes, both ways, without closing: a dead link that sends no FIN. Later connections
 * forward as usual.
 */
async function silenceableProxy(redisUrl: string): Promise<{ url: string; silence(): void; connections(): number; close(): void }> {
  const target = new URL(redisUrl);
  const links = new Set<{ silent: boolean; client: Socket; upstream: Socket }>();
  let accepted = 0;
  const proxy = createServer((client) => {
    accepted++;
    const upstream = connect(Number(target.port), target.hostname);
    const link = { silent: false, client, upstream };
    links.add(link);
    client.on("data", (d) => link.silent || upstream.write(d));
    upstream.on("data", (d) => link.silent || client.write(d));
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    silence: () => {
      for (const link of links) link.silent = true;
    },
    /** Connections accepted so far. */
    connections: () => accepted,
    close: () => {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      proxy.close();
    },
  };
}
