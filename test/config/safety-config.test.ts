// Settings of the safety features: the user registry switch, the size of contact and block
// lists, and the rates of the privacy and report commands.

import { describe, expect, test } from "bun:test";
import { loadConfig, resolveConfig } from "../../src/config/config.ts";

describe("config: safety", () => {
  test("the defaults accept any user id, bound contact and block lists, and rate privacy commands and reports", () => {
    const c = resolveConfig({}, {});
    expect(c.users.requireRegistered).toBe(false);
    expect(c.limits).toMatchObject({ maxContacts: 5000, maxBlocked: 1000 });
    expect(c.rates.privacy).toEqual({ perSecond: 2, burst: 30 });
    expect(c.rates.report).toEqual({ perSecond: 0.1, burst: 5 });
  });

  test("environment variables reach them, and msgr.example.toml shows the defaults", () => {
    const c = resolveConfig({}, { MSGR_USERS_REQUIRE_REGISTERED: "true", MSGR_LIMITS_MAX_CONTACTS: "200", MSGR_RATES_REPORT_BURST: "2" });
    expect(c.users.requireRegistered).toBe(true);
    expect(c.limits.maxContacts).toBe(200);
    expect(c.rates.report.burst).toBe(2);
    const example = loadConfig(new URL("../../msgr.example.toml", import.meta.url).pathname, {});
    expect({ users: example.users, privacy: example.rates.privacy, report: example.rates.report, contacts: example.limits.maxContacts, blocked: example.limits.maxBlocked }).toEqual({
      users: { requireRegistered: false },
      privacy: { perSecond: 2, burst: 30 },
      report: { perSecond: 0.1, burst: 5 },
      contacts: 5000,
      blocked: 1000,
    });
  });

  test.each([
    [{ MSGR_LIMITS_MAX_CONTACTS: "0" }, /limits.maxContacts must be a positive integer/],
    [{ MSGR_LIMITS_MAX_BLOCKED: "1.5" }, /limits.maxBlocked must be a positive integer/],
    [{ MSGR_LIMITS_MAX_CONTACTS: "20000" }, /limits.maxContacts and limits.maxBlocked must be at most 10000/],
    [{ MSGR_USERS_REQUIRE_REGISTERED: "maybe" }, /users.requireRegistered/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(message);
  });
});
