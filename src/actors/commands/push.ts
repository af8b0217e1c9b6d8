// Web Push subscriptions of a device.

import { ErrorCode, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { PushRegisterResult } from "../../proto/types.ts";
import { checkPushEndpoint } from "../../push/endpoint-policy.ts";
import { mobileRegistration, saveMobileToken } from "../../push/mobile-token.ts";
import type { Command } from "./command.ts";

export const pushSubscribe: Command<typeof Method.PushSubscribe> = {
  rate: "push",
  async run({ node, session: s }, { endpoint, p256dh, auth }) {
    const { ctx } = node;
    // RFC 8291 keys: an uncompressed P-256 point and a 16-byte secret. A malformed pair would fail every push.
    const point = Buffer.from(p256dh, "base64url");
    if (point.length !== 65 || point[0] !== 4) throw new CommandError(ErrorCode.InvalidParams, "p256dh: expected an uncompressed P-256 public key");
    if (Buffer.from(auth, "base64url").length !== 16) throw new CommandError(ErrorCode.InvalidParams, "auth: expected 16 bytes");
    const verdict = await checkPushEndpoint(endpoint, { allowlist: ctx.config.push.testAllowlist });
    if (!verdict.ok) throw new CommandError(ErrorCode.InvalidParams, `endpoint: ${verdict.reason}`);
    await ctx.metadata.savePushSubscription({ user: s.user, device: s.device, endpoint, p256dh, auth, createdAt: Date.now() });
    return {};
  },
};

export const pushUnsubscribe: Command<typeof Method.PushUnsubscribe> = {
  rate: "push",
  async run({ node, session: s }, { endpoint }) {
    const { metadata } = node.ctx;
    // Only the user's own subscriptions: an endpoint URL is not proof of ownership.
    if ((await metadata.listPushSubscriptions(s.user)).some((x) => x.endpoint === endpoint)) await metadata.deletePushSubscription(endpoint);
    return {};
  },
};

export const pushRegister: Command<typeof Method.PushRegister> = {
  rate: "push",
  async run({ node, session: s }, { service, token }): Promise<PushRegisterResult> {
    const { ctx } = node;
    const reg = mobileRegistration(ctx.config, service, token);
    if (!reg.ok) throw new CommandError(ErrorCode.InvalidParams, reg.reason);
    await saveMobileToken(ctx.metadata, s.user, s.device, reg.endpoint, Date.now());
    return { endpoint: reg.endpoint };
  },
};
