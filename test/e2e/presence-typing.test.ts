import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeCommand } from "../../src/proto/codec.ts";
import { DisconnectCode, Method } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ heartbeat: { intervalMs: 200, timeoutMs: 600 } }, { topology });
  }, HARNESS_START_MS);

  /** The devices of `user` the presence store counts as online (every edge writes there). */
  const devicesOnline = async (user: string) => (await (await h.stores()).presence.onlineDevices(user)).length;
  afterAll(() => h.stop());

  /** `user` opens a direct conversation with each of `peers` from a device that then disconnects. */
  async function chose(user: string, peers: string[]): Promise<void> {
    const c = await h.client(user, `${user}-setup`);
    for (const p of peers) await c.openDirect(p);
    c.close();
    await until(async () => (await devicesOnline(user)) === 0, 5000, `${user} offline`);
  }

  describe("presence", () => {
    test("online while any device is connected, last seen after the last one leaves; only subscribers hear", async () => {
      const viewer = await h.client("pv");
      const other = await h.client("po");
      // Presence shows only between users in a conversation by their own choice (protocol §10.3):
      // pt opens the conversations itself, from a device it then closes.
      await chose("pt", ["pv", "po"]);
      await viewer.openDirect("pt");
      await other.openDirect("pt");
      expect(await viewer.watchPresence(["pt"])).toMatchObject([{ user: "pt", online: false }]);
      const heardByOther: unknown[] = [];
      other.on("presence", (p) => heardByOther.push(p));

      const online = nextEvent(viewer, "presence", (p) => p.user === "pt" && p.online);
      const phone = await h.client("pt", "phone");
      await online;
      const laptop = await h.client("pt", "laptop");
      phone.close();
      await until(async () => (await devicesOnline("pt")) === 1, 10_000, "the server to see the phone go");
      expect((await viewer.watchPresence(["pt"]))[0]!.online).toBe(true); // the laptop is still there
      const offline = nextEvent(viewer, "presence", (p) => p.user === "pt" && !p.online);
      const before = Date.now();
      laptop.close();
      const p = await offline;
      expect(p.lastSeen).toBeGreaterThanOrEqual(before - 5);
      expect(heardByOther).toEqual([]);
    });

    test("presence of someone who shares no conversation is hidden", async () => {
      const stranger = await h.client("ps1");
      const target = await h.client("ps2");
      expect(await stranger.watchPresence(["ps2"])).toEqual([{ user: "ps2", online: false, lastSeen: 0 }]);
      void target;
    });

    test("a dead connection is detected within the heartbeat window and the user goes offline", async () => {
      const viewer = await h.client("hv");
      await chose("hd", ["hv"]);
      await viewer.openDirect("hd");
      await viewer.watchPresence(["hd"]);
      const online = nextEvent(viewer, "presence", (p) => p.user === "hd" && p.online);
      // A raw socket that connects and then falls silent, like a phone that lost its network.
      const ws = new WebSocket(h.server.wsUrl, ["msgr.v1", "bearer." + (await h.token("hd", "zombie"))]);
      ws.onopen = () => ws.send(encodeCommand(1, Method.Connect, { v: 1 }));
      const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
      await online;
      const offline = nextEvent(viewer, "presence", (p) => p.user === "hd" && !p.online, 5000);
      expect(await closed).toBe(DisconnectCode.HeartbeatTimeout);
      await offline;
    });

    test("an SDK client keeps its connection alive with heartbeats", async () => {
      const c = await h.client("alive");
      let dropped = false;
      c.on("disconnected", () => (dropped = true));
      // Eight heartbeats answered by the server, on the one connection: it has outlived more than
      // twice the 600 ms timeout, kept alive by them alone.
      let beats = 0;
      const request = c.request.bind(c);
      c.request = (method, params) => {
        const reply = request(method, params);
        if (method === Method.Ping) void reply.then(() => beats++, () => {});
        return reply;
      };
      await until(() => beats >= 8, 30_000, "eight heartbeats");
      expect(dropped).toBe(false);
      expect(c.connected).toBe(true);
    });

    test("an SDK client's watch lasts across a reconnect: the new connection subscribes again and reports the state", async () => {
      await chose("rwt", ["rwv"]);
      // The sockets the viewer's SDK opens, so that the test can drop one as a network would.
      const sockets: WebSocket[] = [];
      class Tracked extends WebSocket {
        constructor(url: string, protocols: string[]) {
          super(url, protocols);
          sockets.push(this);
        }
      }
      const viewer = await h.client("rwv", "rwv-phone", { WebSocket: Tracked, minBackoffMs: 10, maxBackoffMs: 50 });
      await viewer.openDirect("rwt");
      expect(await viewer.watchPresence(["rwt"])).toMatchObject([{ user: "rwt", online: false }]);
      const reported = nextEvent(viewer, "presence", (p) => p.user === "rwt" && !p.online);
      const reconnected = nextEvent(viewer, "connected");
      sockets[0]!.close(4001, "as if the network dropped");
      await reconnected;
      await reported;
      expect(sockets).toHaveLength(2);
      // The server knows the new connection's watch: rwt coming online is pushed on it.
      const online = nextEvent(viewer, "presence", (p) => p.user === "rwt" && p.online);
      await h.client("rwt");
      await online;
    });
  });

  describe("typing", () => {
    test("typing reaches the other members' devices, not the typing device, and is never stored", async () => {
      const a = await h.client("ta", "ta1");
      const a2 = await h.client("ta", "ta2");
      const b = await h.client("tb");
      const conv = await a.openDirect("tb");
      const atB = nextEvent(b, "typing");
      const atA2 = nextEvent(a2, "typing");
      let echoed = false;
      a.on("typing", () => (echoed = true));
      a.typing(conv.id, true);
      expect(await atB).toEqual({ conv: conv.id, user: "ta", dev: "ta1", on: true });
      expect((await atA2).dev).toBe("ta1");
      // A round trip on the typing device's connection: an echo would have arrived before its reply.
      await a.conversations();
      expect(echoed).toBe(false);
      expect((await b.history(conv.id)).messages).toHaveLength(0);
    });

    test("a non-member's typing goes nowhere", async () => {
      const a = await h.client("tc");
      const b = await h.client("td");
      const x = await h.client("tx");
      const conv = await a.openDirect("td");
      let heard = false;
      b.on("typing", () => (heard = true));
      await expect(x.request(Method.Typing, { conv: conv.id, on: true })).rejects.toMatchObject({ code: 1101 });
      // The refusal was decided before any relay; a relay to b would have come before this reply.
      await b.conversations();
      expect(heard).toBe(false);
    });
  });
});
