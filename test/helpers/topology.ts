// The deployments the end-to-end and security suites run against, one test body for each, the way
// nats-server runs one test body over both of its stores:
// - "embedded": one server in this process, with the embedded backends (SQLite, in-process bus);
// - "cluster": two edge processes sharing one port (SO_REUSEPORT, so a client's connections land
//   on either), on NATS, Redis, PostgreSQL, the JetStream log, Cassandra and a write-behind worker
//   (test/helpers/cluster.ts).
// MSGR_TEST_TOPOLOGIES=embedded (or =cluster) narrows a run to one of them; by default both run.

import { describe } from "bun:test";

export type Topology = "embedded" | "cluster";

const ALL: Topology[] = ["embedded", "cluster"];

/** The topologies this run covers (MSGR_TEST_TOPOLOGIES, a comma-separated list; default: all). */
export function topologies(): Topology[] {
  const wanted = process.env.MSGR_TEST_TOPOLOGIES;
  if (!wanted) return ALL;
  const list = wanted.split(",").map((t) => t.trim()).filter(Boolean);
  for (const t of list) if (!ALL.includes(t as Topology)) throw new Error(`MSGR_TEST_TOPOLOGIES: unknown topology "${t}" (expected ${ALL.join(", ")})`);
  return list as Topology[];
}

/** Registers `body` once per topology, each inside a describe block named after it. */
export function forEachTopology(body: (topology: Topology) => void): void {
  for (const topology of topologies()) describe(`[${topology}]`, () => body(topology));
}

/**
 * Tests that only the embedded server can run, registered only there (not skipped elsewhere: they
 * do not exist on the cluster). `reason` says why, and shows in the test's name.
 */
export function embeddedOnly(topology: Topology, reason: string, body: () => void): void {
  if (topology === "embedded") describe(`(embedded only: ${reason})`, body);
}
