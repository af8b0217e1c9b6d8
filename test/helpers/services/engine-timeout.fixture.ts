// Run by engine-process.test.ts as a bun test file of its own (not matched by `bun test`'s
// *.test.ts pattern): a test that times out, then one that needs the engine of beforeAll.

import { afterAll, beforeAll, test } from "bun:test";
import { connect } from "nats";
import { startNats, type NatsServer } from "./nats.ts";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(() => nats.stop());

test("a test that times out", () => new Promise<void>(() => {}), 200);

test("the engine started before it still answers", async () => {
  const nc = await connect({ servers: nats.url, reconnect: false });
  await nc.flush();
  await nc.close();
});
