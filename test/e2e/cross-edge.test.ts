// What holds when sender and recipient are on different edges of a cluster (docs/protocol.md,
// "Across edges"): each client here is placed on the edge it names (each edge on a port of its
// own), and every step is taken at once after the acknowledgement of the one before, with no
// waiting in between, since an edge that has not caught up yet is exactly what this looks for.
// Cluster only: with one process there is no other edge.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { ErrorCode, Method, ProtocolError, type Client } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, type Harness } from "../helpers/harness.ts";
import { topologies } from "../helpers/topology.ts";

if (topologies().includes("cluster")) {
  describe("[cluster] across edges", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness({}, { topology: "cluster", ownPorts: true });
    }, HARNESS_START_MS);
    afterAll(() => h.stop());

    /** A synced client of `user` connected to edge `i` (0 or 1), checked to be there. */
    async function on(i: number, user: string, device = `${user}-phone`): Promise<Client> {
      const c = await h.client(user, device, { url: h.edges[i]!.wsUrl });
      expect(c.session?.node).toBe(h.edges[i]!.node);
      return c;
    }

    const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -1));
    /** `url` with its origin replaced by edge `i`'s: the same request, through the other edge. */
    const via = (i: number, url: string) => {
      const u = new URL(url);
      const edge = new URL(h.edges[i]!.httpUrl);
      u.host = edge.host;
      return u.toString();
    };

    test("typing right after DIRECT_OPEN reaches the peer on the other edge, both ways", async () => {
      // Several fresh pairs: each a conversation that the other edge has never heard of.
      for (let n = 0; n < 5; n++) {
        const a = await on(0, `xt-a${n}`);
        const b = await on(1, `xt-b${n}`);
        const conv = await a.openDirect(`xt-b${n}`);
        const atB = nextEvent(b, "typing", (t) => t.conv === conv.id);
        a.typing(conv.id, true);
        expect(await atB).toEqual({ conv: conv.id, user: `xt-a${n}`, dev: `xt-a${n}-phone`, on: true });
        // And the other member, who has not even been told of the conversation yet.
        const atA = nextEvent(a, "typing", (t) => t.conv === conv.id);
        b.typing(conv.id, true);
        expect(await atA).toMatchObject({ conv: conv.id, user: `xt-b${n}`, on: true });
      }
    });

    test("typing right after GROUP_CREATE reaches every member on either edge", async () => {
      const a = await on(0, "xg-a");
      const b = await on(1, "xg-b");
      const c = await on(0, "xg-c");
      const d = await on(1, "xg-d");
      const g = await a.createGroup("cross", ["xg-b", "xg-c", "xg-d"]);
      expect(g.invited).toEqual([]);
      const heard = [b, c, d].map((x) => nextEvent(x, "typing", (t) => t.conv === g.id));
      a.typing(g.id, true);
      for (const t of await Promise.all(heard)) expect(t).toMatchObject({ conv: g.id, user: "xg-a", on: true });
      // A member on the other edge types at once, too.
      const fromD = [a, b, c].map((x) => nextEvent(x, "typing", (t) => t.conv === g.id && t.user === "xg-d"));
      d.typing(g.id, true);
      await Promise.all(fromD);
    });

    test("presence right after DIRECT_OPEN: the state, then each change, across edges", async () => {
      const watched = await on(1, "xp-w");
      const viewer = await on(0, "xp-v");
      // The watched user opens the conversation: presence shows between users who chose each other (§10.3).
      await watched.openDirect("xp-v");
      await viewer.openDirect("xp-w");
      expect(await viewer.watchPresence(["xp-w"])).toMatchObject([{ user: "xp-w", online: true }]);
      const offline = nextEvent(viewer, "presence", (p) => p.user === "xp-w" && !p.online);
      watched.close();
      await offline;
      const online = nextEvent(viewer, "presence", (p) => p.user === "xp-w" && p.online);
      await on(1, "xp-w", "xp-w-laptop");
      await online;
    });

    test("media: the form from one edge is posted to the other, and a download URL from either is served by both", async () => {
      const a = await on(0, "xm-a");
      const b = await on(1, "xm-b");
      const conv = await a.openDirect("xm-b");
      const file = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff);
      const sha256 = createHash("sha256").update(file).digest("hex");
      const slot = (await a.request(Method.MediaUpload, { contentType: "application/octet-stream", size: file.length, sha256 })) as {
        media: string;
        upload: { url: string; fields: Record<string, string> };
      };
      const form = new FormData();
      for (const [k, v] of Object.entries(slot.upload.fields)) form.append(k, v);
      form.append("file", new Blob([file], { type: "application/octet-stream" }), "upload");
      const res = await fetch(via(1, slot.upload.url), { method: "POST", body: form, keepalive: false });
      await res.arrayBuffer();
      expect(res.status).toBeLessThan(300);

      const atB = nextEvent(b, "message", (m) => m.conv === conv.id && m.media === slot.media);
      await a.send(conv.id, "a file", { media: slot.media });
      await atB;
      // b's URL, signed by edge 1, fetched from both edges; a's, signed by edge 0, likewise.
      for (const url of [(await b.mediaUrl(slot.media)).url, (await a.mediaUrl(slot.media)).url]) {
        for (const i of [0, 1]) {
          const got = await fetch(via(i, url));
          expect(got.status).toBe(200);
          expect(new Uint8Array(await got.arrayBuffer())).toEqual(file);
        }
      }
    });

    test("a membership change through one edge is in force at once for a member on the other", async () => {
      const admin = await on(0, "xs-admin");
      const added = await on(1, "xs-added");
      const removed = await on(1, "xs-removed");
      const g = await admin.createGroup("changes", ["xs-removed"]);
      // Added through edge 0, sends through edge 1 right after the acknowledgement.
      await admin.addMembers(g.id, ["xs-added"]);
      const ack = await added.send(g.id, "just added");
      expect(ack.seq).toBeGreaterThan(0);
      // Removed through edge 0: edge 1 applies it within one bus hop (docs/protocol.md §8.7); once
      // the removed member's device is told, its send through edge 1 is refused.
      const told = nextEvent(removed, "conversation", (c) => c.conv.id === g.id && c.removed);
      await admin.removeMember(g.id, "xs-removed");
      await told;
      expect(await codeOf(removed.send(g.id, "just removed"))).toBe(ErrorCode.Forbidden);
      expect((await admin.history(g.id)).messages.map((m) => new TextDecoder().decode(m.body))).not.toContain("just removed");
    });
  });
}
