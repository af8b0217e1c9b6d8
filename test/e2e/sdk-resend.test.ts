// The SDK marks every retransmission of a SEND `resend: true` (protocol §5.4): a cluster with the
// JetStream log checks its long-term duplicate key only for those. The frames are read as they
// leave the client; the server is a real one (embedded, or a cluster), which refuses the second send with a
// retryable RateLimited so that the SDK transmits it again.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeCommand, type CommandFrame } from "../../src/proto/codec.ts";
import { Method } from "../../src/proto/codes.ts";
import type { SendParams } from "../../src/proto/types.ts";
import { HARNESS_START_MS, startHarness, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  const sent: CommandFrame[] = [];
  const originalSend = WebSocket.prototype.send;

  beforeAll(async () => {
    // One send per second, no burst: the second of two quick sends is refused with retryAfterMs.
    h = await startHarness({ rates: { send: { perSecond: 1, burst: 1 } } }, { topology });
    WebSocket.prototype.send = function (data) {
      if (data instanceof Uint8Array) sent.push(decodeCommand(data));
      return originalSend.call(this, data);
    };
  }, HARNESS_START_MS);
  afterAll(async () => {
    WebSocket.prototype.send = originalSend;
    await h.stop();
  });

  test("a SEND transmitted again after a retryable error carries resend: true; a first transmission does not", async () => {
    const alice = await h.client("alice");
    const conv = await alice.openDirect("bob");
    const [first, second] = await Promise.all([alice.send(conv.id, "one", { cid: "c-1" }), alice.send(conv.id, "two", { cid: "c-2" })]);
    expect([first.seq, second.seq, second.dup]).toEqual([1, 2, false]);
    const transmissions = (cid: string) => sent.filter((f) => f.method === Method.Send && (f.params as unknown as SendParams).cid === cid).map((f) => (f.params as unknown as SendParams).resend);
    expect(transmissions("c-1")).toEqual([undefined]);
    expect(transmissions("c-2")).toEqual([undefined, true]);
  });
});
