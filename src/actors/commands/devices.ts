// A user's own devices: listing them and revoking one.

import { ErrorCode, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { DeviceInfo } from "../../proto/types.ts";
import type { Command } from "./command.ts";

export const deviceList: Command<typeof Method.DeviceList> = {
  rate: "devices",
  async run({ node, session: s }) {
    const { ctx } = node;
    const [devices, online] = await Promise.all([ctx.metadata.listDevices(s.user), ctx.presence.onlineDevices(s.user)]);
    const on = new Set(online);
    return {
      devices: devices.map((d): DeviceInfo => ({ device: d.device, online: on.has(d.device), lastSeen: d.lastSeen, revoked: d.revoked })),
    };
  },
};

export const deviceRevoke: Command<typeof Method.DeviceRevoke> = {
  rate: "devices",
  async run({ node, session: s }, { device }) {
    if (!(await node.revokeDevice(s.user, device))) throw new CommandError(ErrorCode.NotFound, "no such device");
    return {};
  },
};
