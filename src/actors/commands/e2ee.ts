// End-to-end encryption commands (src/e2ee, docs/protocol.md §16): a device's KeyPackages, claims
// of others' for a conversation's group, commits, and the group as the server tracks it.

import { ConvType, Method } from "../../proto/codes.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { peerOf } from "./guards.ts";
import { memberOf } from "./membership.ts";

/** The conversation's actor when `user` may use it for encryption: a member, and no block between the two of a direct conversation. */
async function usable(node: Node, conv: string, user: string) {
  const a = await memberOf(node, conv, user);
  const peer = a.type === ConvType.Direct ? peerOf(a, user) : undefined;
  if (peer) await node.ctx.safety.requireNotBlocked(user, peer);
  return a;
}

export const keyPackageUpload: Command<typeof Method.KeyPackageUpload> = {
  rate: "e2ee",
  run({ node, session: s }, { packages, lastResort }) {
    return node.ctx.e2ee.uploadKeyPackages(s.user, s.device, packages, lastResort);
  },
};

export const keyPackageCount: Command<typeof Method.KeyPackageCount> = {
  rate: "e2ee",
  run({ node, session: s }) {
    return node.ctx.e2ee.countKeyPackages(s.user, s.device);
  },
};

export const keyPackageClaim: Command<typeof Method.KeyPackageClaim> = {
  rate: "e2ee",
  async run({ node, session: s }, { conv }) {
    return node.ctx.e2ee.claim(await usable(node, conv, s.user), s.user, s.device);
  },
};

export const mlsCommit: Command<typeof Method.MlsCommit> = {
  rate: "e2ee",
  async run({ node, session: s, acceptedAt }, params) {
    const a = await usable(node, params.conv, s.user);
    // The ratchet tree uploaded as media becomes the conversation's, like a file sent in it.
    if (params.treeMedia) await node.ctx.media.verifyForSend(s.user, params.treeMedia, params.conv);
    return node.ctx.e2ee.commit(a, s.user, s.device, params, acceptedAt);
  },
};

export const mlsGroup: Command<typeof Method.MlsGroup> = {
  rate: "e2ee",
  async run({ node, session: s }, { conv }) {
    return node.ctx.e2ee.group(await memberOf(node, conv, s.user));
  },
};
