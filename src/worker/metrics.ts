// Prometheus metrics of a write-behind worker, served at its /metrics: how far behind the log it
// is (in envelopes: JetStream messages holding one or more chat messages each), how large its
// store batches are, and how long the store takes to confirm them.

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { registerProcessMetrics } from "../metrics/process-metrics.ts";

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly batchSize: Histogram;
  readonly writeSeconds: Histogram;
  readonly written: Counter;
  readonly storeErrors: Counter;
  readonly redeliveries: Counter;
  readonly poison: Counter;

  /** `backlog` is read at each scrape (it asks JetStream). */
  constructor(backlog: () => Promise<number>) {
    const registers = [this.registry];
    registerProcessMetrics(this.registry, "msgr_worker_");
    this.batchSize = new Histogram({ name: "msgr_worker_batch_size", help: "Messages per store write", buckets: [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048], registers });
    this.writeSeconds = new Histogram({
      name: "msgr_worker_store_write_seconds",
      help: "Time for the store to confirm one batch",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.written = new Counter({ name: "msgr_worker_messages_written_total", help: "Messages written to the store and acknowledged", registers });
    this.storeErrors = new Counter({ name: "msgr_worker_store_errors_total", help: "Failed store writes (each is retried)", registers });
    this.redeliveries = new Counter({ name: "msgr_worker_redeliveries_total", help: "Envelopes the log delivered again before they were acknowledged", registers });
    this.poison = new Counter({ name: "msgr_worker_undecodable_total", help: "Envelopes that could not be decoded (terminated, never stored)", registers });
    new Gauge({
      name: "msgr_worker_backlog",
      help: "Envelopes of every shard not yet acknowledged by the workers of this consumer (pending plus in flight)",
      registers,
      async collect() {
        this.set(await backlog().catch(() => Number.NaN));
      },
    });
  }
}
