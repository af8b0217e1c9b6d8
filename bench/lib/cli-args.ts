// Command line of `npm run bench -- <scenario|all> [options]`: a profile, then overrides of
// single parameters. Anything overridden is recorded with the results.

import { parseArgs } from "node:util";
import { PROFILES, type Profile, type ProfileName } from "./profiles.ts";

export const SCENARIOS = ["direct", "group", "connections", "resume", "durable"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- <${SCENARIOS.join("|")}|all> [options]

  --profile quick|full   quick (default): all scenarios in about 3 minutes; full: design scale, 3 rounds
  --peers a,b,...        servers to run (default: all available): msgr, bare-bun, node-ws, socketio, centrifugo;
                         msgr@REV: msgr as of git revision REV too (a commit, a branch, HEAD~1), compared round by round
  --rounds N             repeat each measurement N times and quote medians
  --closed               direct: closed loop only (maximum throughput), no open-loop run
  --rate R               direct: open loop at R messages/s instead of 70% of the closed loop's throughput
  --users N              direct: users (in pairs)
  --window W             direct and group: closed-loop messages in flight per sender
  --duration S           seconds of each measured phase (direct, group)
  --warmup S             seconds of the unmeasured closed loop before them (direct, group)
  --groups G             group: groups of 256 members
  --senders S            group: senders per group
  --connections C        connections: idle connections
  --hold S               connections: seconds to hold them open
  --devices M            resume: devices reconnecting
  --missed K             resume: messages each device missed
  --messages N           durable: appends of the closed loop (saturation)
  --body BYTES           message body size (default 100; durable: 200)
  --no-pin               do not pin servers and generators to separate cores`;

export interface BenchArgs {
  scenarios: ScenarioName[];
  profileName: ProfileName;
  profile: Profile;
  peers: string[] | null;
  closedOnly: boolean;
  fixedRate: number | null;
  pin: boolean;
  /** Options beyond the scenario, profile and rounds: a run with any is not the reference run. */
  overridden: boolean;
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      profile: { type: "string", default: "quick" },
      peers: { type: "string" },
      rounds: { type: "string" },
      closed: { type: "boolean", default: false },
      rate: { type: "string" },
      users: { type: "string" },
      window: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      groups: { type: "string" },
      senders: { type: "string" },
      connections: { type: "string" },
      hold: { type: "string" },
      devices: { type: "string" },
      missed: { type: "string" },
      messages: { type: "string" },
      body: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || positionals.length !== 1) throw new UsageError(USAGE);
  const which = positionals[0]!;
  if (which !== "all" && !(SCENARIOS as readonly string[]).includes(which)) throw new UsageError(`unknown scenario ${which}\n\n${USAGE}`);
  if (values.profile !== "quick" && values.profile !== "full") throw new UsageError(`--profile must be quick or full\n\n${USAGE}`);

  const profileName = values.profile;
  const p: Profile = structuredClone(PROFILES[profileName]);
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const set = <T>(v: T | undefined, apply: (v: T) => void) => v !== undefined && apply(v);
  set(int("rounds", values.rounds, 1), (v) => (p.rounds = Math.round(v)));
  set(int("users", values.users, 2), (v) => (p.direct.users = 2 * Math.round(v / 2)));
  set(int("window", values.window, 1), (v) => (p.direct.window = p.group.window = Math.round(v)));
  set(int("duration", values.duration, 0.5), (v) => (p.direct.durationMs = p.group.durationMs = v * 1000));
  set(int("warmup", values.warmup, 0), (v) => (p.direct.warmupMs = p.group.warmupMs = v * 1000));
  set(int("groups", values.groups, 1), (v) => (p.group.groups = Math.round(v)));
  set(int("senders", values.senders, 1), (v) => (p.group.senders = Math.round(v)));
  set(int("connections", values.connections, 1), (v) => (p.connections.connections = Math.round(v)));
  set(int("hold", values.hold, 1), (v) => (p.connections.holdMs = v * 1000));
  set(int("devices", values.devices, 1), (v) => (p.resume.devices = Math.round(v)));
  set(int("missed", values.missed, 1), (v) => (p.resume.missed = Math.round(v)));
  set(int("messages", values.messages, 1), (v) => (p.durable.messages = Math.round(v)));
  set(int("body", values.body, 16), (v) => (p.bodyBytes = p.durable.bodyBytes = Math.round(v)));
  const fixedRate = int("rate", values.rate, 1) ?? null;

  // --rounds repeats the same measurements for medians; it changes no parameter.
  const overridden = argv.some((a) => a.startsWith("--") && !a.startsWith("--profile") && !a.startsWith("--rounds"));
  return {
    scenarios: which === "all" ? [...SCENARIOS] : [which as ScenarioName],
    profileName,
    profile: p,
    peers: values.peers ? values.peers.split(",").map((s) => s.trim()) : null,
    closedOnly: values.closed,
    fixedRate,
    pin: !values["no-pin"],
    overridden,
  };
}

export class UsageError extends Error {}
