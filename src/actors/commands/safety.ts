// A user's own safety settings: blocking, privacy settings, contacts; and reports to the
// service's moderators. Every change is stored, then every node is told (its caches are stale,
// its presence watches are decided again) and the user's devices get the new state as a push.

import { ErrorCode, Method, PushKind } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { PrivacySettings, ReportResult, UserListResult } from "../../proto/types.ts";
import { ListFullError, type ReportedCopy } from "../../storage/safety-types.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { memberOf } from "./membership.ts";

/** A list at its configured limit: Conflict, since the same command fails until entries are removed. */
async function withinLimit<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ListFullError) throw new CommandError(ErrorCode.Conflict, `the list is full (${e.message})`);
    throw e;
  }
}

async function blocksChanged(node: Node, user: string): Promise<void> {
  const { safety } = node.ctx;
  const heard = safety.changed(user);
  safety.notify(user, PushKind.Blocks, { users: await safety.store.listBlocked(user) } satisfies UserListResult);
  await heard;
}

async function contactsChanged(node: Node, user: string): Promise<void> {
  const { safety } = node.ctx;
  const heard = safety.changed(user);
  safety.notify(user, PushKind.Contacts, { users: await safety.store.listContacts(user) } satisfies UserListResult);
  await heard;
}

export const block: Command<typeof Method.Block> = {
  rate: "privacy",
  async run({ node, session: s }, { user }) {
    if (user === s.user) throw new CommandError(ErrorCode.InvalidParams, "user: cannot block yourself");
    const { safety, config } = node.ctx;
    await safety.requireKnown([user]);
    if (await withinLimit(safety.store.block(s.user, user, Date.now(), config.limits.maxBlocked))) await blocksChanged(node, s.user);
    return {};
  },
};

export const unblock: Command<typeof Method.Unblock> = {
  rate: "privacy",
  async run({ node, session: s }, { user }) {
    if (await node.ctx.safety.store.unblock(s.user, user)) await blocksChanged(node, s.user);
    return {};
  },
};

export const blockList: Command<typeof Method.BlockList> = {
  rate: "privacy",
  async run({ node, session: s }): Promise<UserListResult> {
    return { users: await node.ctx.safety.store.listBlocked(s.user) };
  },
};

export const privacyGet: Command<typeof Method.PrivacyGet> = {
  rate: "privacy",
  async run({ node, session: s }): Promise<PrivacySettings> {
    return (await node.ctx.safety.store.getPrivacy([s.user])).get(s.user)!;
  },
};

export const privacySet: Command<typeof Method.PrivacySet> = {
  rate: "privacy",
  async run({ node, session: s }, changes): Promise<PrivacySettings> {
    const { safety } = node.ctx;
    const settings: PrivacySettings = { ...(await safety.store.getPrivacy([s.user])).get(s.user)!, ...changes };
    await safety.store.setPrivacy(s.user, settings);
    // Replied once every node has heard (Safety.changed): the settings are in force everywhere.
    await safety.changed(s.user);
    safety.notify(s.user, PushKind.Privacy, settings);
    return settings;
  },
};

export const contactList: Command<typeof Method.ContactList> = {
  rate: "privacy",
  async run({ node, session: s }): Promise<UserListResult> {
    return { users: await node.ctx.safety.store.listContacts(s.user) };
  },
};

export const contactAdd: Command<typeof Method.ContactAdd> = {
  rate: "privacy",
  async run({ node, session: s }, { users }) {
    const { safety, config } = node.ctx;
    const others = users.filter((u) => u !== s.user);
    await safety.requireKnown(others);
    await withinLimit(safety.store.addContacts(s.user, others, Date.now(), config.limits.maxContacts));
    await contactsChanged(node, s.user);
    return {};
  },
};

export const contactRemove: Command<typeof Method.ContactRemove> = {
  rate: "privacy",
  async run({ node, session: s }, { users }) {
    await node.ctx.safety.store.removeContacts(s.user, users);
    await contactsChanged(node, s.user);
    return {};
  },
};

export const report: Command<typeof Method.Report> = {
  rate: "report",
  async run({ node, session: s }, { user, conv, seq, reason, messages = [] }): Promise<ReportResult> {
    const { ctx } = node;
    const aboutMessage = conv !== undefined || seq !== undefined;
    if (aboutMessage === (user !== undefined)) throw new CommandError(ErrorCode.InvalidParams, "report either a user (user) or a message (conv and seq)");
    if (aboutMessage && (conv === undefined || seq === undefined)) throw new CommandError(ErrorCode.InvalidParams, "a message is named by conv and seq");
    for (const m of messages) {
      if (m.body.length > ctx.config.limits.maxBodyBytes) throw new CommandError(ErrorCode.BodyTooLarge, `messages: a body exceeds ${ctx.config.limits.maxBodyBytes} bytes`);
    }
    let reported: string;
    if (conv !== undefined && seq !== undefined) {
      // Only a message the reporter could read: their conversation, from the message that added them.
      const a = await memberOf(node, conv, s.user);
      const [m] = seq >= (a.joinedSeq(s.user) ?? 1) ? await ctx.messages.range(conv, seq - 1, 1) : [];
      if (!m || m.seq !== seq) throw new CommandError(ErrorCode.NotFound, "no such message");
      reported = m.from;
    } else {
      reported = user!;
      if (reported === s.user) throw new CommandError(ErrorCode.InvalidParams, "user: cannot report yourself");
      await ctx.safety.requireKnown([reported]);
    }
    // The reporter's own copies, as they chose to share them (the server may not be able to read its own).
    const copies: ReportedCopy[] = messages.map((m) => ({ ...m, body: m.body.slice() }));
    const id = await ctx.safety.store.createReport({ reporter: s.user, user: reported, conv: conv ?? null, seq: seq ?? null, reason, messages: copies, at: Date.now() });
    return { id };
  },
};
