import { describe, expect, test } from "bun:test";
import {
  aggregatesFromInfo,
  convLabel,
  describeSystemEvent,
  formatChatLine,
  formatClock,
  formatChatSettings,
  formatDuration,
  formatError,
  formatInvitation,
  formatReactions,
  formatListEntry,
  formatMember,
  formatMessage,
  formatNewMessageNotice,
  formatPresenceChange,
  formatPrivacy,
  formatPrompt,
  formatSystemEvent,
  formatTicks,
  formatTime,
  formatTyping,
  formatUserList,
  HELP,
  messageText,
  contentTypeFor,
  expandHome,
  parseCommand,
  parseDuration,
  parseGroupArgs,
  parsePrivacyArgs,
  parseSeqArgs,
  parseUserList,
  sanitize,
  tickRank,
  tickState,
} from "../../src/cli/chat-view.ts";
import { pack } from "../../src/proto/codec.ts";
import { ConvType, MessageKind, ProtocolError, SystemOp, type ConvInfo, type WireMessage } from "../../src/sdk/index.ts";

const BLUE = "\x1b[34m";
/** A fixed local time: 2025-03-04 09:05:07. */
const T = new Date(2025, 2, 4, 9, 5, 7).getTime();

function msg(over: Partial<WireMessage>): WireMessage {
  return { conv: "c1", seq: 1, id: 1n, from: "alice", dev: "d1", cid: "x", kind: MessageKind.Text, body: new TextEncoder().encode("hi"), ts: T, ...over };
}

function sys(ev: object, over: Partial<WireMessage> = {}): WireMessage {
  return msg({ kind: MessageKind.System, body: pack(ev), dev: "", cid: "", ...over });
}

const member = (user: string, delivered: number, read: number, admin = false) => ({ user, admin, joined: 1, delivered, read });

describe("time", () => {
  test("formatTime is HH:MM:SS in local time", () => {
    expect(formatTime(T)).toBe("09:05:07");
    expect(formatTime(new Date(2025, 0, 1, 23, 59, 0).getTime())).toBe("23:59:00");
  });
  test("formatClock shows the date only for another day", () => {
    expect(formatClock(T, T + 60_000)).toBe("09:05");
    expect(formatClock(T, new Date(2025, 2, 5, 10, 0, 0).getTime())).toBe("2025-03-04 09:05");
  });
});

describe("messages", () => {
  const agg = { allDelivered: 0, allRead: 0 };

  test("a message from someone else is `HH:MM:SS #seq name: text` without ticks", () => {
    expect(formatMessage(msg({ from: "bob", body: new TextEncoder().encode("hello there") }), { me: "alice", agg, color: false })).toBe(
      "09:05:07 #1 bob: hello there",
    );
  });

  test("own messages carry ticks", () => {
    const m = msg({ seq: 3 });
    expect(formatMessage(m, { me: "alice", agg: { allDelivered: 2, allRead: 0 }, color: false })).toBe("09:05:07 #3 alice: hi ✓");
    expect(formatMessage(m, { me: "alice", agg: { allDelivered: 3, allRead: 2 }, color: false })).toBe("09:05:07 #3 alice: hi ✓✓");
    expect(formatMessage(m, { me: "alice", agg: { allDelivered: 5, allRead: 4 }, color: true })).toContain(`${BLUE}✓✓`);
  });

  test("formatChatLine colours the name only when asked", () => {
    expect(formatChatLine(T, "bob", "x", null, false)).toBe("09:05:07 bob: x");
    expect(formatChatLine(T, "bob", "x", "sent", true)).toBe("09:05:07 \x1b[1mbob\x1b[0m: x ✓");
  });

  test("control characters from peers are neutralised", () => {
    expect(sanitize("a\x1b[2Jb")).toBe("a\ufffd[2Jb");
    expect(sanitize("line1\nline2")).toBe("line1 ⏎ line2");
    expect(messageText(MessageKind.Text, new TextEncoder().encode("\x07ding"))).toBe("\ufffdding");
  });

  test("media and unknown kinds are described", () => {
    expect(messageText(MessageKind.Media, new TextEncoder().encode("sunset"))).toBe("[media] sunset");
    expect(messageText(MessageKind.Media, new Uint8Array(0))).toBe("[media]");
    expect(messageText(99, new Uint8Array(1))).toBe("[message of kind 99, 1 bytes]");
  });
});

test("content types for uploads come from the file extension", () => {
  expect(contentTypeFor("/tmp/Photo.JPG")).toBe("image/jpeg");
  expect(contentTypeFor("a.png")).toBe("image/png");
  expect(contentTypeFor("notes")).toBe("application/octet-stream");
});

test("~ in a typed path means the home directory", () => {
  expect(expandHome("~/photo.jpg", "/home/ann")).toBe("/home/ann/photo.jpg");
  expect(expandHome("~", "/home/ann/")).toBe("/home/ann/");
  expect(expandHome("~/a", "/home/ann/")).toBe("/home/ann/a");
  expect(expandHome("/tmp/~x.jpg", "/home/ann")).toBe("/tmp/~x.jpg");
  expect(expandHome("~bob/x", "/home/ann")).toBe("~bob/x");
});

describe("system events", () => {
  test("each op renders as a sentence", () => {
    expect(describeSystemEvent({ op: SystemOp.MembersAdded, by: "alice", users: ["bob", "carol"] })).toBe("alice added bob, carol");
    expect(describeSystemEvent({ op: SystemOp.ThumbnailReady, by: "alice", media: "m1", thumb: "m2", ref: 7 })).toBe("thumbnail ready for alice's image (message 7)");
    expect(describeSystemEvent({ op: SystemOp.Renamed, by: "alice", title: "x" })).toBe('alice renamed the group to "x"');
    expect(describeSystemEvent({ op: SystemOp.Created, by: "alice", users: ["alice", "bob"], title: "team" })).toBe(
      'alice created the group "team" with bob',
    );
    expect(describeSystemEvent({ op: SystemOp.Created, by: "alice", users: ["alice"], title: "solo" })).toBe('alice created the group "solo"');
    expect(describeSystemEvent({ op: SystemOp.MemberRemoved, by: "alice", users: ["bob"] })).toBe("alice removed bob");
    expect(describeSystemEvent({ op: SystemOp.MemberLeft, by: "bob", users: ["bob"] })).toBe("bob left");
    expect(describeSystemEvent({ op: SystemOp.AdminGranted, by: "alice", users: ["carol"] })).toBe("alice made carol an admin");
    expect(describeSystemEvent({ op: SystemOp.AdminRevoked, by: "alice", users: ["carol"] })).toBe("alice revoked admin rights of carol");
    expect(describeSystemEvent({ op: 42, by: "alice" })).toBe("alice: system event 42");
  });

  test("formatSystemEvent prefixes `* `", () => {
    expect(formatSystemEvent({ op: SystemOp.MembersAdded, by: "alice", users: ["bob", "carol"] })).toBe("* alice added bob, carol");
    expect(formatSystemEvent(null)).toBe("* (unreadable system event)");
  });

  test("a System message decodes its MessagePack body", () => {
    const agg = { allDelivered: 0, allRead: 0 };
    expect(formatMessage(sys({ op: SystemOp.Renamed, by: "alice", title: "x" }), { me: "bob", agg, color: false })).toBe(
      '09:05:07 * alice renamed the group to "x"',
    );
    // System messages never get ticks, even when "from" me.
    expect(formatMessage(sys({ op: SystemOp.MembersAdded, by: "alice", users: ["bob"] }), { me: "alice", agg, color: false })).toBe(
      "09:05:07 * alice added bob",
    );
    expect(formatMessage(msg({ kind: MessageKind.System, body: new Uint8Array([0xc1]) }), { me: "bob", agg, color: false })).toBe(
      "09:05:07 * (unreadable system event)",
    );
  });
});

describe("ticks", () => {
  test("tickState follows the aggregates", () => {
    expect(tickState(undefined, { allDelivered: 9, allRead: 9 })).toBe("pending");
    expect(tickState(5, { allDelivered: 4, allRead: 0 })).toBe("sent");
    expect(tickState(5, { allDelivered: 5, allRead: 4 })).toBe("delivered");
    expect(tickState(5, { allDelivered: 7, allRead: 5 })).toBe("read");
  });

  test("ranks only go up", () => {
    expect(tickRank("pending")).toBeLessThan(tickRank("sent"));
    expect(tickRank("sent")).toBeLessThan(tickRank("delivered"));
    expect(tickRank("delivered")).toBeLessThan(tickRank("read"));
  });

  test("tick marks: ✓ sent, ✓✓ delivered, blue ✓✓ read", () => {
    expect(formatTicks("sent", true)).toBe("✓");
    expect(formatTicks("delivered", true)).toBe("✓✓");
    expect(formatTicks("read", false)).toBe("✓✓");
    expect(formatTicks("read", true)).toBe(`${BLUE}✓✓\x1b[0m`);
    expect(formatTicks("pending", false)).toBe("…");
  });

  test("aggregates from a conversation snapshot exclude me", () => {
    const info: ConvInfo = { id: "c", type: ConvType.Group, title: "t", lastSeq: 9, members: [member("alice", 1, 1), member("bob", 7, 5), member("carol", 6, 6)] };
    expect(aggregatesFromInfo(info, "alice")).toEqual({ allDelivered: 6, allRead: 5 });
    expect(aggregatesFromInfo({ ...info, members: [member("alice", 0, 0)] }, "alice")).toEqual({ allDelivered: 9, allRead: 9 });
  });
});

describe("conversations, presence, typing", () => {
  const direct: ConvInfo = { id: "d1", type: ConvType.Direct, title: "", lastSeq: 2, members: [member("alice", 2, 2), member("bob", 2, 1)] };
  const group: ConvInfo = { id: "g1", type: ConvType.Group, title: "team", lastSeq: 4, members: [member("alice", 4, 4, true), member("bob", 1, 1)] };

  test("labels and prompt", () => {
    expect(convLabel(direct, "alice")).toBe("bob");
    expect(convLabel(direct, "bob")).toBe("alice");
    expect(convLabel(group, "alice")).toBe("team");
    expect(convLabel({ ...group, title: "" }, "alice")).toBe("g1");
    expect(convLabel(undefined, "alice", "zz")).toBe("zz");
    expect(formatPrompt("bob")).toBe("[bob] > ");
    expect(formatPrompt(null)).toBe("[-] > ");
  });

  test("list entries", () => {
    expect(formatListEntry(1, direct, "alice", 0, true)).toBe("*  1. [bob]  direct  d1");
    expect(formatListEntry(2, group, "alice", 3, false)).toBe("   2. [team]  group of 2  g1  3 unread");
  });

  test("new message notices", () => {
    expect(formatNewMessageNotice("bob", null, 1)).toBe("(new message in [bob])");
    expect(formatNewMessageNotice("team", "carol", 3)).toBe("(new message in [team] from carol – 3 unread)");
  });

  test("presence", () => {
    const now = T + 3600_000;
    expect(formatPresenceChange({ user: "bob", online: true, lastSeen: 0 }, now)).toBe("bob is online");
    expect(formatPresenceChange({ user: "bob", online: false, lastSeen: T }, now)).toBe("bob was last seen 09:05");
    expect(formatPresenceChange({ user: "bob", online: false, lastSeen: 0 }, now)).toBe("bob is offline");
    expect(formatMember("bob", false, "alice", { user: "bob", online: false, lastSeen: T }, now)).toBe("  bob  last seen 09:05");
    expect(formatMember("alice", true, "alice", undefined, now)).toBe("  alice  (you), admin");
    expect(formatMember("carol", false, "alice", { user: "carol", online: true, lastSeen: 0 }, now)).toBe("  carol  online");
  });

  test("typing", () => {
    expect(formatTyping([])).toBe("");
    expect(formatTyping(["bob"])).toBe("bob is typing…");
    expect(formatTyping(["bob", "carol"])).toBe("bob and carol are typing…");
    expect(formatTyping(["a", "b", "c"])).toBe("3 people are typing…");
  });
});

describe("input", () => {
  test("parseCommand", () => {
    expect(parseCommand("hello")).toBeNull();
    expect(parseCommand("//not a command")).toBeNull();
    expect(parseCommand("/dm bob")).toEqual({ name: "dm", args: ["bob"], rest: "bob" });
    expect(parseCommand("  /Rename  the  new name ")).toEqual({ name: "rename", args: ["the", "new", "name"], rest: "the  new name" });
    expect(parseCommand("/quit")).toEqual({ name: "quit", args: [], rest: "" });
  });

  test("user lists and group arguments", () => {
    expect(parseUserList(["bob,carol", "dave", "bob", ","])).toEqual(["bob", "carol", "dave"]);
    expect(parseGroupArgs(["team", "bob,carol"])).toEqual({ title: "team", members: ["bob", "carol"] });
    expect(parseGroupArgs(["dream", "team", "bob"])).toEqual({ title: "dream team", members: ["bob"] });
    expect(parseGroupArgs(["solo"])).toEqual({ title: "solo", members: [] });
    expect(parseGroupArgs([])).toBeNull();
  });

  test("errors", () => {
    expect(formatError(new ProtocolError(1101, "only group admins may do this"))).toBe("error: only group admins may do this (code 1101)");
    expect(formatError(new Error("boom"))).toBe("error: boom");
    expect(formatError("x")).toBe("error: x");
  });
});

describe("the message lifecycle", () => {
  const agg = { allDelivered: 0, allRead: 0 };
  const opts = { me: "alice", agg, color: false };
  const te = new TextEncoder();

  test("a reply, an edit, a disappearing message and reactions show on the message's line", () => {
    const reactions = new Map([
      ["bob", te.encode("🎉")],
      ["carol", te.encode("👍")],
    ]);
    expect(formatMessage({ ...msg({ from: "bob", seq: 4, ref: 2 }), reactions }, opts)).toBe("09:05:07 #4 bob: ↪#2 hi [🎉 bob, 👍 carol]");
    expect(formatMessage(msg({ from: "bob", edited: T + 1, exp: T + 60_000 }), opts)).toBe("09:05:07 #1 bob: hi (edited) ⏱");
    // A deleted message shows neither its reply mark nor ticks.
    expect(formatMessage(msg({ kind: MessageKind.Removed, body: new Uint8Array(0), ref: 2 }), opts)).toBe("09:05:07 #1 alice: [message deleted]");
    expect(formatReactions(new Map([["eve", te.encode("\x1b[2J")]]))).toBe("[\ufffd[2J eve]");
  });

  test("deletions and timers read as sentences", () => {
    expect(describeSystemEvent({ op: SystemOp.MessageRemoved, by: "bob", ref: 3 })).toBe("bob deleted message #3");
    expect(describeSystemEvent({ op: SystemOp.TimerChanged, by: "bob", timer: 86_400 })).toBe("bob turned on disappearing messages: 1 d");
    expect(describeSystemEvent({ op: SystemOp.TimerChanged, by: "bob", timer: 0 })).toBe("bob turned off disappearing messages");
  });

  test("durations: typed and shown", () => {
    expect(parseDuration("30s")).toBe(30);
    expect(parseDuration("5m")).toBe(300);
    expect(parseDuration("2H")).toBe(7200);
    expect(parseDuration("7d")).toBe(604_800);
    expect(parseDuration("1w")).toBe(604_800);
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("off")).toBe(0);
    expect(parseDuration("soon")).toBeNull();
    expect(parseDuration("-5m")).toBeNull();
    expect(formatDuration(90)).toBe("90 s");
    expect(formatDuration(300)).toBe("5 min");
    expect(formatDuration(7200)).toBe("2 h");
    expect(formatDuration(604_800)).toBe("7 d");
  });

  test("/edit, /reply, /react take a seq, with or without #, and the rest", () => {
    expect(parseSeqArgs("12 fixed text")).toEqual({ seq: 12, text: "fixed text" });
    expect(parseSeqArgs("#3 👍")).toEqual({ seq: 3, text: "👍" });
    expect(parseSeqArgs("3")).toEqual({ seq: 3, text: "" });
    expect(parseSeqArgs("0 x")).toBeNull();
    expect(parseSeqArgs("x 3")).toBeNull();
  });

  test("a conversation's own settings as a line", () => {
    const none = { conv: "c1", muteUntil: 0, archived: false, pinned: false, unread: false };
    expect(formatChatSettings(none, T)).toBe("no settings (not pinned, archived or muted)");
    expect(formatChatSettings({ ...none, pinned: true, unread: true, muteUntil: T + 3_600_000 }, T)).toBe("pinned, muted until 10:05, marked unread");
    expect(formatChatSettings({ ...none, archived: true, muteUntil: Number.MAX_SAFE_INTEGER }, T)).toBe("archived, muted");
    // A mute that has run out is no mute.
    expect(formatChatSettings({ ...none, muteUntil: T - 1 }, T)).toBe("no settings (not pinned, archived or muted)");
  });

  test("the help lists the lifecycle commands", () => {
    for (const cmd of ["/reply", "/edit", "/react", "/delete", "/hide", "/forward", "/timer", "/mute", "/pin", "/archive", "/unread"]) expect(HELP).toContain(cmd);
  });
});

describe("safety", () => {
  test("moderation's system events and removed messages read as such", () => {
    expect(describeSystemEvent({ op: SystemOp.MessageRemoved, by: "", ref: 7 })).toBe("a moderator removed message #7");
    expect(describeSystemEvent({ op: SystemOp.MemberRemoved, by: "", users: ["eve"] })).toBe("a moderator removed eve");
    expect(describeSystemEvent({ op: SystemOp.Joined, by: "bob" })).toBe("bob joined");
    expect(messageText(MessageKind.Removed, new Uint8Array(0))).toBe("[message deleted]");
  });

  test("/privacy arguments become the change to send, or say what is wrong", () => {
    expect(parsePrivacyArgs(["lastseen", "contacts"])).toEqual({ lastSeen: "contacts" });
    expect(parsePrivacyArgs(["Online", "Nobody", "receipts", "off", "groupadd", "everyone"])).toEqual({ online: "nobody", readReceipts: false, groupAdd: "everyone" });
    expect(parsePrivacyArgs([])).toMatch(/^usage/);
    expect(parsePrivacyArgs(["online"])).toMatch(/^usage/);
    expect(parsePrivacyArgs(["status", "nobody"])).toMatch(/unknown setting/);
    expect(parsePrivacyArgs(["online", "friends"])).toMatch(/everyone, contacts or nobody/);
    expect(parsePrivacyArgs(["receipts", "maybe"])).toMatch(/on or off/);
  });

  test("settings, invitations and user lists as lines", () => {
    expect(formatPrivacy({ lastSeen: "contacts", online: "everyone", groupAdd: "contacts", readReceipts: false })).toEqual([
      "privacy:",
      "  last seen      contacts",
      "  online         everyone",
      "  add to groups  contacts (others send an invitation)",
      "  read receipts  off (you don't see others' either)",
    ]);
    expect(formatInvitation(2, { conv: "c9", title: "trip\x1b[2J", by: "alice", at: T }, T + 60_000)).toBe("   2. [trip\ufffd[2J] from alice, 09:05  c9");
    expect(formatUserList("blocked", [])).toBe("blocked: (none)");
    expect(formatUserList("contacts", ["bob", "carol"])).toBe("contacts: bob, carol");
  });

  test("the help lists blocking, privacy and invitations", () => {
    for (const cmd of ["/block", "/unblock", "/privacy", "/contacts", "/invites", "/accept", "/decline", "/join", "/report"]) expect(HELP).toContain(cmd);
  });
});
