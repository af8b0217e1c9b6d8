// The two profiles. quick: the whole `all` run in about three minutes on a 2-core machine, every
// peer included, for a check after a change. full: the scale the design targets (100,000 idle
// connections, thousands of devices resuming) and three rounds per figure, quoted as medians.

export type ProfileName = "quick" | "full";

export interface Profile {
  rounds: number;
  direct: {
    users: number;
    /** Closed loop: messages in flight per sender. */
    window: number;
    warmupMs: number;
    durationMs: number;
    drainMs: number;
    /** Open loop at this fraction of the closed loop's throughput. */
    openFraction: number;
  };
  group: { groups: number; members: number; senders: number; window: number; warmupMs: number; durationMs: number; drainMs: number };
  connections: {
    connections: number;
    /** At most this many connections per server process and per generator process (20,000 open files each). */
    perProcess: number;
    heartbeatMs: number;
    holdMs: number;
  };
  resume: { devices: number; missed: number; timeoutMs: number };
  durable: {
    /** Appends of the closed loop (saturation), one in flight per conversation. */
    messages: number;
    conversations: number;
    bodyBytes: number;
    /** Raw JetStream publishes are measured for this long (each of one stream and all shard streams). */
    rawMs: number;
    /** The open loop runs this long, at openFraction of the closed loop's rate. */
    openMs: number;
    openFraction: number;
    /** Appends into one conversation, by one writer and again by two. */
    hotMessages: number;
    /** Each way of writing the store alone is measured for this long. */
    probeMs: number;
    /** An unmeasured store probe first, so the first measured one does not pay for the JIT and statement preparation. */
    warmupMs: number;
    /** The drain is measured for at most this long (the log of a round holds more than the store takes in that time). */
    drainMs: number;
  };
  bodyBytes: number;
  connectConcurrency: number;
  /** Heartbeat of the message scenarios: the product default. */
  heartbeatMs: number;
}

// The warm-ups are as long as full's: msgr's JIT thread compiles its hot path for about 2 s after
// the traffic starts, on the server's pinned core. After 0.5 s it was still compiling in the
// measured phase, about a fifth of msgr's server CPU there (bench/README.md, `direct`).
const quick: Profile = {
  rounds: 1,
  direct: { users: 100, window: 4, warmupMs: 3_000, durationMs: 2_500, drainMs: 3_000, openFraction: 0.7 },
  group: { groups: 2, members: 256, senders: 4, window: 4, warmupMs: 3_000, durationMs: 2_500, drainMs: 3_000 },
  connections: { connections: 2_000, perProcess: 1_000, heartbeatMs: 2_000, holdMs: 3_000 },
  resume: { devices: 200, missed: 50, timeoutMs: 30_000 },
  durable: { messages: 60_000, conversations: 1_000, bodyBytes: 200, rawMs: 3_000, openMs: 3_000, openFraction: 0.5, hotMessages: 10_000, probeMs: 3_000, warmupMs: 4_000, drainMs: 15_000 },
  bodyBytes: 100,
  connectConcurrency: 100,
  heartbeatMs: 30_000,
};

const full: Profile = {
  rounds: 3,
  direct: { users: 1_000, window: 4, warmupMs: 3_000, durationMs: 15_000, drainMs: 10_000, openFraction: 0.7 },
  group: { groups: 8, members: 256, senders: 4, window: 4, warmupMs: 2_000, durationMs: 15_000, drainMs: 10_000 },
  connections: { connections: 100_000, perProcess: 15_000, heartbeatMs: 10_000, holdMs: 30_000 },
  resume: { devices: 2_000, missed: 100, timeoutMs: 120_000 },
  durable: { messages: 200_000, conversations: 10_000, bodyBytes: 200, rawMs: 10_000, openMs: 10_000, openFraction: 0.5, hotMessages: 20_000, probeMs: 5_000, warmupMs: 10_000, drainMs: 120_000 },
  bodyBytes: 100,
  connectConcurrency: 200,
  heartbeatMs: 30_000,
};

export const PROFILES: Record<ProfileName, Profile> = { quick, full };
