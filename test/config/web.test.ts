// The web app's settings: on by default only in embedded mode, development sign-in only in
// embedded mode on a loopback address, bad values refused naming the key.

import { expect, test } from "bun:test";
import { ConfigError, devSignInEnabled, resolveConfig, webAppEnabled } from "../../src/config/config.ts";

test("embedded defaults: the app at /app with development sign-in on loopback", () => {
  const c = resolveConfig({}, {});
  expect(c.web).toEqual({ app: "auto", path: "/app", devSignIn: "auto" });
  expect(webAppEnabled(c)).toBe(true);
  expect(devSignInEnabled(c)).toBe(true);
});

test("with the operator's keys (not embedded) neither is on unless asked for", () => {
  const c = resolveConfig({}, { MSGR_AUTH_KEYS_FILE: "/etc/msgr/jwks.json" });
  expect(webAppEnabled(c)).toBe(false);
  expect(devSignInEnabled(c)).toBe(false);
  const on = resolveConfig({}, { MSGR_AUTH_KEYS_FILE: "/etc/msgr/jwks.json", MSGR_WEB_APP: "on" });
  expect(webAppEnabled(on)).toBe(true);
  expect(devSignInEnabled(on)).toBe(false);
});

test("embedded but listening beyond loopback: no development sign-in by default", () => {
  expect(devSignInEnabled(resolveConfig({}, { MSGR_SERVER_HOST: "0.0.0.0" }))).toBe(false);
  expect(devSignInEnabled(resolveConfig({}, { MSGR_SERVER_HOST: "0.0.0.0", MSGR_WEB_DEV_SIGN_IN: "on" }))).toBe(true);
  expect(devSignInEnabled(resolveConfig({}, { MSGR_WEB_APP: "off", MSGR_WEB_DEV_SIGN_IN: "on" }))).toBe(false);
});

test.each([
  [{ MSGR_WEB_APP: "yes" }, /web.app must be/],
  [{ MSGR_WEB_DEV_SIGN_IN: "true" }, /web.devSignIn must be/],
  [{ MSGR_WEB_PATH: "app" }, /web.path/],
  [{ MSGR_WEB_PATH: "/app/" }, /web.path/],
  [{ MSGR_WEB_PATH: "/v1/app" }, /web.path/],
])("%p is refused naming the setting", (env, message) => {
  expect(() => resolveConfig({}, env)).toThrow(ConfigError);
  expect(() => resolveConfig({}, env)).toThrow(message);
});
