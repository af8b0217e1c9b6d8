// Settings of end-to-end encryption (the MLS delivery service): the epoch window, the KeyPackage
// stock per device and its low-water mark, and the rate of the e2ee commands.

import { describe, expect, test } from "bun:test";
import { loadConfig, resolveConfig } from "../../src/config/config.ts";

describe("config: e2ee", () => {
  test("the defaults, the environment, and msgr.example.toml showing the defaults", () => {
    const c = resolveConfig({}, {});
    expect(c.e2ee).toEqual({ epochWindow: 3, maxKeyPackagesPerDevice: 200, keyPackagesLowWater: 10 });
    expect(c.rates.e2ee).toEqual({ perSecond: 2, burst: 40 });
    const e = resolveConfig({}, { MSGR_E2EE_EPOCH_WINDOW: "0", MSGR_E2EE_MAX_KEY_PACKAGES_PER_DEVICE: "50", MSGR_E2EE_KEY_PACKAGES_LOW_WATER: "5", MSGR_RATES_E2EE_BURST: "7" });
    expect(e.e2ee).toEqual({ epochWindow: 0, maxKeyPackagesPerDevice: 50, keyPackagesLowWater: 5 });
    expect(e.rates.e2ee.burst).toBe(7);
    const example = loadConfig(new URL("../../msgr.example.toml", import.meta.url).pathname, {});
    expect({ e2ee: example.e2ee, rate: example.rates.e2ee }).toEqual({ e2ee: c.e2ee, rate: c.rates.e2ee });
  });

  test.each([
    // Members keep 4 past epochs' keys: a wider window would accept messages they cannot read.
    [{ MSGR_E2EE_EPOCH_WINDOW: "5" }, /e2ee.epochWindow must be an integer 0..4/],
    [{ MSGR_E2EE_EPOCH_WINDOW: "-1" }, /e2ee.epochWindow/],
    [{ MSGR_E2EE_MAX_KEY_PACKAGES_PER_DEVICE: "0" }, /e2ee.maxKeyPackagesPerDevice must be an integer 1..10000/],
    [{ MSGR_E2EE_MAX_KEY_PACKAGES_PER_DEVICE: "10001" }, /e2ee.maxKeyPackagesPerDevice/],
    [{ MSGR_E2EE_KEY_PACKAGES_LOW_WATER: "200" }, /e2ee.keyPackagesLowWater must be an integer from 0 to below e2ee.maxKeyPackagesPerDevice/],
    [{ MSGR_E2EE_KEY_PACKAGES_LOW_WATER: "1.5" }, /e2ee.keyPackagesLowWater/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(message);
  });
});
