// Lifting msgr's rate limits for tests and benchmarks that are not about them: every per-user
// rate (config `rates`) and the per-connection budgets, as config overrides or as environment.

import { DEFAULTS, environmentVariables, type Config, type DeepPartial, type RateClass, type RateLimit } from "../../src/config/config.ts";

const HIGH = 10_000_000;

export function unlimitedRates(): Record<RateClass, RateLimit> {
  const out = {} as Record<RateClass, RateLimit>;
  for (const cls of Object.keys(DEFAULTS.rates) as RateClass[]) out[cls] = { perSecond: HIGH, burst: HIGH };
  return out;
}

export function unlimitedLimits(): DeepPartial<Config["limits"]> {
  return { commandsPerSecond: HIGH, commandsBurst: HIGH, maxInflightPerConnection: HIGH, maxRefusedCommands: HIGH, maxDevicesPerUser: HIGH };
}

/** The same as MSGR_* environment variables, for servers started as child processes. */
export function unlimitedEnv(): Record<string, string> {
  const env: Record<string, string> = {
    MSGR_LIMITS_COMMANDS_PER_SECOND: String(HIGH),
    MSGR_LIMITS_COMMANDS_BURST: String(HIGH),
    MSGR_LIMITS_MAX_INFLIGHT_PER_CONNECTION: String(HIGH),
    MSGR_LIMITS_MAX_REFUSED_COMMANDS: String(HIGH),
    MSGR_LIMITS_MAX_DEVICES_PER_USER: String(HIGH),
  };
  for (const name of environmentVariables()) if (name.startsWith("MSGR_RATES_")) env[name] = String(HIGH);
  return env;
}
