// Runs the bus contract on the in-process bus and on NATS (a real nats-server child process),
// then what only a networked bus can show: a server restart, garbage on a subject, and how many
// NATS subscriptions a process holds.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "nats";
import pino from "pino";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { NatsBus } from "../../src/bus/nats-bus.ts";
import type { MessageEvent } from "../../src/bus/events.ts";
import { subjects } from "../../src/bus/subjects.ts";
import { pack } from "../../src/proto/codec.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { busContract, messageEvent, recorder, settle } from "./bus.contract.ts";
import { until } from "../helpers/wait.ts";

busContract("memory bus", async () => {
  const bus = new MemoryBus();
  return { a: bus, b: bus, close: () => bus.close() };
});

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats.stop();
});

const silent = pino({ level: "silent" });

function openNats(name: string, log = silent): Promise<NatsBus> {
  return NatsBus.connect({ servers: [nats.url], name, log });
}

busContract("nats bus", async () => {
  const a = await openNats("node-a");
  const b = await openNats("node-b");
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

describe("nats bus over a real server", () => {
  test("a server restart during traffic: onRecovered fires on both nodes and subscriptions keep working", async () => {
    const a = await openNats("restart-a");
    const b = await openNats("restart-b");
    const recovered = { a: 0, b: 0 };
    a.onRecovered(() => recovered.a++);
    b.onRecovered(() => recovered.b++);
    const subject = subjects.conversation("restart");
    const onB = recorder();
    b.subscribe(subject, onB);
    await settle(a, b);

    let seq = 0;
    const traffic = setInterval(() => a.publish(subject, messageEvent("restart", ++seq)), 2);
    await until(() => onB.events.length >= 20, 10_000, "traffic before the restart");
    await nats.restart();
    await until(() => recovered.a >= 1 && recovered.b >= 1, 10_000, "recovery on both nodes");
    const afterRecovery = seq;
    await until(() => onB.events.some((e) => (e as MessageEvent).msg.seq > afterRecovery + 20), 10_000, "traffic after the recovery");
    clearInterval(traffic);

    // Events published while the connection was down may be lost (recovered from the store);
    // what does arrive is in order and never twice.
    const seqs = onB.events.map((e) => (e as MessageEvent).msg.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);

    // Once settled, nothing published is lost.
    await settle(a, b);
    const before = onB.events.length;
    for (let i = 1; i <= 100; i++) a.publish(subject, messageEvent("restart", seq + i));
    await until(() => onB.events.length >= before + 100, 10_000, "100 events after recovery");
    expect(onB.events.slice(before).map((e) => (e as MessageEvent).msg.seq)).toEqual(Array.from({ length: 100 }, (_, i) => seq + i + 1));

    await Promise.all([a.close(), b.close()]);
  });

  test("payloads that are not bus events are logged and dropped; the subscription keeps working", async () => {
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
    const bus = await openNats("garbage", log);
    const raw = await connect({ servers: nats.url });
    const subject = subjects.user("mallory");
    const r = recorder();
    bus.subscribe(subject, r);
    await settle(bus, bus);

    const garbage = [
      new Uint8Array([0xc1]), // a byte MessagePack never uses
      new Uint8Array([0x92, 0x01]), // an array of two with one element: truncated
      new Uint8Array(), // empty
      pack(42), // valid MessagePack, not an event
      pack({ t: "nonsense" }),
      pack({ t: "revoke", user: "mallory", device: "d" }).subarray(0, 5), // cut short
    ];
    for (const g of garbage) raw.publish(subject, g);
    raw.publish(subject, pack({ t: "revoke", user: "mallory", device: "d" }));
    await raw.flush();
    await until(() => r.events.length >= 1, 10_000, "the valid event");

    expect(r.events).toEqual([{ t: "revoke", user: "mallory", device: "d" }]);
    expect(warnings.filter((w) => w.includes("dropped")).length).toBe(garbage.length);

    await raw.close();
    await bus.close();
  });

  // The drain needs the server, so close() bounds its wait for it; a close() that hung would fail
  // this test by the runner's timeout. The bound is short here only to keep the test quick.
  test("close() returns while NATS is down", async () => {
    const own = await startNats();
    const bus = await NatsBus.connect({ servers: [own.url], name: "close-while-down", log: silent, drainTimeoutMs: 100 });
    bus.subscribe(subjects.user("ivan"), { onEvent: () => {} });
    await own.stop();
    await expect(bus.close()).resolves.toBeUndefined();
  });

  test("one NATS subscription per subject per process, dropped with the last local listener", async () => {
    const bus = await openNats("refcount");
    const subject = subjects.conversation("refcount");
    const subsOnServer = async () => {
      const connz = (await (await fetch(`${nats.monitorUrl}/connz?subs=1`)).json()) as { connections: { name?: string; subscriptions_list?: string[] }[] };
      return connz.connections.find((c) => c.name === "refcount")?.subscriptions_list?.filter((s) => s === subject).length ?? 0;
    };
    const rs = [recorder(), recorder(), recorder()];
    for (const r of rs) bus.subscribe(subject, r);
    await settle(bus, bus);
    expect(await subsOnServer()).toBe(1);

    bus.unsubscribe(subject, rs[0]!);
    bus.unsubscribe(subject, rs[1]!);
    await settle(bus, bus);
    expect(await subsOnServer()).toBe(1);

    bus.unsubscribe(subject, rs[2]!);
    await settle(bus, bus);
    expect(await subsOnServer()).toBe(0);

    await bus.close();
  });
});
