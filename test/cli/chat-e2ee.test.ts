// Two terminal clients chat end-to-end encrypted: the direct conversation is encrypted when it is
// opened (both run encrypting clients), a lock marks it, the server stores none of the text, both
// show the same safety number, and a restarted client still reads and writes it (its MLS state is
// in files). A client whose peer does not encrypt says so and stays plain.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { MessageKind } from "../../src/sdk/index.ts";
import { chatProcess, type ChatProcess } from "../helpers/chat-process.ts";
import { startHarness, until, type Harness } from "../helpers/harness.ts";

let h: Harness;
const procs: ChatProcess[] = [];
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  for (const p of procs) p.proc.kill();
  await h.stop();
});

function chat(user: string): ChatProcess {
  const p = chatProcess(h, user);
  procs.push(p);
  return p;
}

/** Waits until the device's client has put KeyPackages on the server (others can add it). */
async function canBeAdded(user: string): Promise<void> {
  await until(async () => (await h.embedded.node.ctx.e2ee.countKeyPackages(user, `${user}-term`)).count > 0, 20_000, `${user}'s KeyPackages`);
}

const safetyLine = (out: string, peer: string) => new RegExp(`safety number with ${peer}: ((?:\\d{5} ){11}\\d{5})`).exec(out)?.[1];

test("two terminal clients chat encrypted with a lock shown and the same safety number on both sides", async () => {
  const bob = chat("tb-bob");
  await bob.printed("connected as tb-bob");
  await canBeAdded("tb-bob");
  const alice = chat("tb-alice");
  let a = await alice.printed("connected as tb-alice");
  await canBeAdded("tb-alice");

  alice.type("/dm tb-bob");
  a = await alice.printed("(🔒 end-to-end encrypted", a);
  await alice.printed("── [tb-bob 🔒] ──");
  const secret = `a secret for bob ${crypto.randomUUID()}`;
  alice.type(secret);
  let b = await bob.printed(`tb-alice: ${secret}`);
  await bob.printed("[tb-alice 🔒]");
  const reply = `and one for alice ${crypto.randomUUID()}`;
  bob.type(reply);
  a = await alice.printed(`tb-bob: ${reply}`, a);

  // The server holds MLS messages, and neither text.
  const conv = (await h.embedded.node.ctx.metadata.listUserConversations("tb-alice"))[0]!.conv;
  const stored = await h.embedded.node.ctx.messages.range(conv, 0, 100);
  expect(stored.filter((m) => m.kind === MessageKind.Mls)).toHaveLength(2);
  const bodies = stored.map((m) => Buffer.from(m.body).toString("latin1")).join("\n");
  expect(bodies).not.toContain(secret);
  expect(bodies).not.toContain(reply);

  alice.type("/safety");
  bob.type("/safety");
  await alice.printed("safety number with tb-bob: ", a);
  b = await bob.printed("safety number with tb-alice: ", b);
  await until(() => safetyLine(alice.output(), "tb-bob") !== undefined && safetyLine(bob.output(), "tb-alice") !== undefined, 10_000, "whole safety numbers");
  expect(safetyLine(alice.output(), "tb-bob")).toBe(safetyLine(bob.output(), "tb-alice")!);

  // Bob restarts: his keys and the group come back from his files; he reads and writes as before.
  bob.type("/quit");
  expect(await bob.proc.exited).toBe(0);
  const again = chat("tb-bob");
  await again.printed("connected as tb-bob");
  await again.printed(`tb-alice: ${secret}`); // the latest messages, from his device's own store
  const later = `after the restart ${crypto.randomUUID()}`;
  alice.type(later);
  await again.printed(`tb-alice: ${later}`);
  again.type("still here");
  await alice.printed("tb-bob: still here", a);
  alice.type("/quit");
  again.type("/quit");
  expect(await alice.proc.exited).toBe(0);
  expect(await again.proc.exited).toBe(0);
}, 90_000);

test("a peer without an encrypting client gets a plain conversation, and the user is told", async () => {
  const carol = await h.client("tb-carol");
  const dave = chat("tb-dave");
  const at = await dave.printed("connected as tb-dave");
  dave.type("/dm tb-carol");
  await dave.printed("(not end-to-end encrypted: tb-carol uses a client that does not encrypt", at);
  const got = new Promise<string>((resolve) => carol.on("message", (m) => resolve(new TextDecoder().decode(m.body))));
  dave.type("hello in the clear");
  expect(await got).toBe("hello in the clear");
  dave.type("/safety");
  await dave.printed("this conversation is not end-to-end encrypted", at);
  dave.type("/quit");
  expect(await dave.proc.exited).toBe(0);
}, 60_000);
