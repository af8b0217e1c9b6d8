// Readiness: whether this node should receive traffic. It is not ready while draining, nor while
// a backend it needs does not answer. Each backend is probed through its own interface with a
// real round trip (a read that goes to the store; an event sent through the bus and back), so a
// probe exercises the same connection, pool and server that serving would, whatever the backend.
//
// /readyz answers 200 or 503 with the result of every probe; the same results are exported as
// msgr_backend_up{backend} at each scrape, so alerts see a failing backend without a load balancer.

import { randomUUID } from "node:crypto";
import { Gauge, type Registry } from "prom-client";
import type { Bus, BusListener } from "../bus/bus.ts";
import { subjects } from "../bus/subjects.ts";
import type { MessageStore, MetadataStore, PresenceStore, TicketStore } from "../storage/types.ts";

export type Backend = "bus" | "messages" | "metadata" | "presence" | "tickets";

export interface ReadinessDeps {
  bus: Bus;
  messages: MessageStore;
  metadata: MetadataStore;
  presence: PresenceStore;
  tickets: TicketStore;
  nodeId: number;
  /** A probe that has not answered within this long failed. */
  timeoutMs: number;
}

export interface ReadinessReport {
  ready: boolean;
  /** The node is shutting down (SIGTERM): not ready whatever the backends say. */
  draining: boolean;
  /** "ok", or why the probe failed. */
  checks: Record<Backend, string>;
  /** The backends whose probe failed. */
  failed: Backend[];
}

/** Ids that are valid for every store and can never name real data. */
const PROBE_ID = "__readyz";

export class Readiness {
  private draining = false;
  private inflight: Promise<ReadinessReport> | undefined;
  /** Bus probes waiting for their event to come back, by nonce. */
  private readonly echoes = new Map<string, () => void>();
  private readonly busSubject: string;
  private readonly listener: BusListener = {
    onEvent: (event) => {
      if (event.t === "presence") this.echoes.get(event.info.user)?.();
    },
  };

  constructor(private readonly deps: ReadinessDeps) {
    // One subscription for the node's lifetime; each probe sends one event through it.
    this.busSubject = subjects.health(deps.nodeId, randomUUID());
    deps.bus.subscribe(this.busSubject, this.listener);
  }

  /** From now on the node reports itself not ready (the first step of a drain). */
  startDraining(): void {
    this.draining = true;
  }

  /** Probes every backend; concurrent callers share one round of probes. */
  check(): Promise<ReadinessReport> {
    this.inflight ??= this.probeAll().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  async respond(): Promise<Response> {
    const report = await this.check();
    return Response.json(report, { status: report.ready ? 200 : 503, headers: { "cache-control": "no-store" } });
  }

  /** msgr_ready and msgr_backend_up{backend}, probed at each scrape. */
  registerMetrics(registry: Registry): void {
    const check = () => this.check();
    new Gauge({
      name: "msgr_backend_up",
      help: "1 when the backend answered its readiness probe at this scrape, else 0",
      labelNames: ["backend"],
      registers: [registry],
      async collect() {
        const report = await check();
        for (const [backend, result] of Object.entries(report.checks)) this.set({ backend }, result === "ok" ? 1 : 0);
      },
    });
    new Gauge({
      name: "msgr_ready",
      help: "1 when /readyz would answer 200 (not draining, every backend up), else 0",
      registers: [registry],
      async collect() {
        this.set((await check()).ready ? 1 : 0);
      },
    });
  }

  close(): void {
    this.deps.bus.unsubscribe(this.busSubject, this.listener);
    for (const resolve of this.echoes.values()) resolve();
    this.echoes.clear();
  }

  private async probeAll(): Promise<ReadinessReport> {
    const { messages, metadata, presence, tickets } = this.deps;
    const probes: Record<Backend, () => Promise<unknown>> = {
      bus: () => this.busRoundTrip(),
      messages: () => messages.lastSeq(PROBE_ID),
      metadata: () => metadata.isDeviceRevoked(PROBE_ID, PROBE_ID),
      presence: () => presence.onlineDevices(PROBE_ID),
      tickets: () => tickets.redeem(`${PROBE_ID}-${randomUUID()}`, Date.now()),
    };
    const entries = await Promise.all(Object.entries(probes).map(async ([name, probe]) => [name, await this.timed(probe)] as const));
    const checks = Object.fromEntries(entries) as Record<Backend, string>;
    const failed = entries.filter(([, r]) => r !== "ok").map(([name]) => name as Backend);
    return { ready: !this.draining && failed.length === 0, draining: this.draining, checks, failed };
  }

  private async timed(probe: () => Promise<unknown>): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${this.deps.timeoutMs} ms`), this.deps.timeoutMs)));
    try {
      return await Promise.race([probe().then(() => "ok"), timeout]);
    } catch (err) {
      return (err as Error).message || String(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when an event published on the node's health subject has come back through the bus. */
  private busRoundTrip(): Promise<void> {
    const nonce = randomUUID();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.echoes.delete(nonce);
        reject(new Error(`no answer within ${this.deps.timeoutMs} ms`));
      }, this.deps.timeoutMs);
      this.echoes.set(nonce, () => {
        clearTimeout(timer);
        this.echoes.delete(nonce);
        resolve();
      });
      this.deps.bus.publish(this.busSubject, { t: "presence", info: { user: nonce, online: false, lastSeen: 0 } });
    });
  }
}
