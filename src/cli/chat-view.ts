// Presentation for the terminal client: pure functions from protocol data to text lines.
// Nothing here touches the terminal, the clock or the network, so it can be unit-tested;
// src/cli/chat.ts wires these to readline and the SDK client.

import {
  ConvType,
  decodeSystemEvent,
  MessageKind,
  ProtocolError,
  SystemOp,
  type ChatSettings,
  type ConvInfo,
  type Invitation,
  type PresenceInfo,
  type PrivacySetParams,
  type PrivacySettings,
  type SystemEvent,
  type Visibility,
  type WireMessage,
} from "../sdk/index.ts";

// ---- colours --------------------------------------------------------------------------------

const ESC = "\x1b[";
const RESET = `${ESC}0m`;
export const ansi = {
  blue: (s: string) => `${ESC}34m${s}${RESET}`,
  dim: (s: string) => `${ESC}2m${s}${RESET}`,
  bold: (s: string) => `${ESC}1m${s}${RESET}`,
  red: (s: string) => `${ESC}31m${s}${RESET}`,
};

const paint = (color: boolean, f: (s: string) => string, s: string) => (color ? f(s) : s);

// ---- time -----------------------------------------------------------------------------------

const pad2 = (n: number) => String(n).padStart(2, "0");

/** `HH:MM:SS` in local time. */
export function formatTime(ts: number): string {
  const d = new Date(ts);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** `HH:MM` when `ts` is on the same local day as `now`, else `YYYY-MM-DD HH:MM`. */
export function formatClock(ts: number, now: number): string {
  const d = new Date(ts);
  const n = new Date(now);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  return sameDay ? hm : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hm}`;
}

// ---- text -----------------------------------------------------------------------------------

/**
 * Makes text from other users safe to print: control characters (escape sequences could move
 * the cursor or recolour the terminal) become visible placeholders; tabs become spaces.
 */
export function sanitize(text: string): string {
  return text.replace(/\t/g, "    ").replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => (c === "\n" ? " ⏎ " : "\ufffd"));
}

/** The printable text of a non-system message body. */
export function messageText(kind: number, body: Uint8Array): string {
  if (kind === MessageKind.Text) return sanitize(new TextDecoder().decode(body));
  if (kind === MessageKind.Media) {
    const caption = sanitize(new TextDecoder().decode(body));
    return caption ? `[media] ${caption}` : "[media]";
  }
  if (kind === MessageKind.Removed) return "[message deleted]";
  // What the encrypting client hands on when it could not decrypt (sent before this device joined, or tampered with).
  if (kind === MessageKind.Mls) return "[encrypted message this device cannot read]";
  return `[message of kind ${kind}, ${body.byteLength} bytes]`;
}

/** Decodes a System message body; null when it is not a SystemEvent. */
export function decodeSystem(body: Uint8Array): SystemEvent | null {
  try {
    const v = decodeSystemEvent(body) as Partial<SystemEvent> | null;
    if (!v || typeof v !== "object" || typeof v.op !== "number" || typeof v.by !== "string") return null;
    return v as SystemEvent;
  } catch {
    return null;
  }
}

const names = (users: string[] | undefined) => (users && users.length > 0 ? users.map(sanitize).join(", ") : "nobody");

/** `alice added bob, carol` — a system event as a sentence (without the leading `* `). */
export function describeSystemEvent(ev: SystemEvent): string {
  // An empty `by` is the service's moderation (the admin API).
  const by = sanitize(ev.by || "a moderator");
  switch (ev.op) {
    case SystemOp.Created: {
      const others = (ev.users ?? []).filter((u) => u !== ev.by);
      const title = ev.title ? ` "${sanitize(ev.title)}"` : "";
      return others.length > 0 ? `${by} created the group${title} with ${names(others)}` : `${by} created the group${title}`;
    }
    case SystemOp.Renamed:
      return `${by} renamed the group to "${sanitize(ev.title ?? "")}"`;
    case SystemOp.MembersAdded:
      return `${by} added ${names(ev.users)}`;
    case SystemOp.MemberRemoved:
      return `${by} removed ${names(ev.users)}`;
    case SystemOp.AdminGranted:
      return `${by} made ${names(ev.users)} an admin`;
    case SystemOp.AdminRevoked:
      return `${by} revoked admin rights of ${names(ev.users)}`;
    case SystemOp.MemberLeft:
      return `${by} left`;
    case SystemOp.ThumbnailReady:
      return `thumbnail ready for ${by}'s image (message ${ev.ref ?? "?"})`;
    case SystemOp.MessageRemoved:
      return ev.by ? `${by} deleted message #${ev.ref ?? "?"}` : `a moderator removed message #${ev.ref ?? "?"}`;
    case SystemOp.Joined:
      return `${by} joined`;
    case SystemOp.TimerChanged:
      return ev.timer ? `${by} turned on disappearing messages: ${formatDuration(ev.timer)}` : `${by} turned off disappearing messages`;
    default:
      return `${by}: system event ${ev.op}`;
  }
}

/** `* alice added bob, carol` */
export function formatSystemEvent(ev: SystemEvent | null): string {
  return ev ? `* ${describeSystemEvent(ev)}` : "* (unreadable system event)";
}

// ---- ticks ----------------------------------------------------------------------------------

/** pending: not yet acknowledged; sent: stored; delivered: every other member has it; read: every other member read it. */
export type TickState = "pending" | "sent" | "delivered" | "read";

export interface Aggregates {
  /** Every member other than me has delivered up to this seq. */
  allDelivered: number;
  /** Every member other than me has read up to this seq. */
  allRead: number;
}

const TICK_RANK: Record<TickState, number> = { pending: 0, sent: 1, delivered: 2, read: 3 };

export function tickRank(s: TickState): number {
  return TICK_RANK[s];
}

/** State of own message `seq` (undefined while the send is not acknowledged). */
export function tickState(seq: number | undefined, agg: Aggregates): TickState {
  if (seq === undefined || seq <= 0) return "pending";
  if (agg.allRead >= seq) return "read";
  if (agg.allDelivered >= seq) return "delivered";
  return "sent";
}

/** `…`, `✓`, `✓✓`, or `✓✓` in blue. */
export function formatTicks(state: TickState, color: boolean): string {
  switch (state) {
    case "pending":
      return "…";
    case "sent":
      return "✓";
    case "delivered":
      return "✓✓";
    case "read":
      return paint(color, ansi.blue, "✓✓");
  }
}

/** Aggregates from a conversation snapshot: the lowest markers of every member but `me`. */
export function aggregatesFromInfo(info: ConvInfo, me: string): Aggregates {
  const others = info.members.filter((m) => m.user !== me);
  if (others.length === 0) return { allDelivered: info.lastSeq, allRead: info.lastSeq };
  return {
    allDelivered: Math.min(...others.map((m) => m.delivered)),
    allRead: Math.min(...others.map((m) => m.read)),
  };
}

// ---- messages -------------------------------------------------------------------------------

export interface LineOptions {
  me: string;
  agg: Aggregates;
  color: boolean;
}

/** `HH:MM:SS alice: text` (own messages followed by their ticks). */
export function formatChatLine(ts: number, from: string, text: string, ticks: TickState | null, color: boolean): string {
  const who = paint(color, ansi.bold, sanitize(from));
  const suffix = ticks ? ` ${formatTicks(ticks, color)}` : "";
  return `${formatTime(ts)} ${who}: ${text}${suffix}`;
}

/** Each member's current reaction, `[🎉 bob, 👍 carol]`; empty when there are none. */
export function formatReactions(reactions: Map<string, Uint8Array> | undefined): string {
  if (!reactions || reactions.size === 0) return "";
  const dec = new TextDecoder();
  return `[${[...reactions].map(([user, r]) => `${sanitize(dec.decode(r))} ${sanitize(user)}`).join(", ")}]`;
}

/**
 * One stored or live message as a line: `HH:MM:SS #seq alice: text`, with `↪#N` for a reply,
 * `(edited)`, `⏱` for a disappearing message and the reactions; or `HH:MM:SS * alice added bob`
 * for system messages. The seq is what /edit, /reply, /react, /delete and /forward take.
 */
export function formatMessage(m: WireMessage & { reactions?: Map<string, Uint8Array> }, opts: LineOptions): string {
  if (m.kind === MessageKind.System) {
    const line = `${formatTime(m.ts)} ${formatSystemEvent(decodeSystem(m.body))}`;
    return paint(opts.color, ansi.dim, line);
  }
  const own = m.from === opts.me;
  const parts = [messageText(m.kind, m.body)];
  if (m.ref !== undefined && m.kind !== MessageKind.Removed) parts.unshift(`↪#${m.ref}`);
  if (m.edited !== undefined) parts.push(paint(opts.color, ansi.dim, "(edited)"));
  if (m.exp !== undefined && m.kind !== MessageKind.Removed) parts.push("⏱");
  const reactions = formatReactions(m.reactions);
  if (reactions) parts.push(reactions);
  const line = formatChatLine(m.ts, m.from, parts.join(" "), own && m.kind !== MessageKind.Removed ? tickState(m.seq, opts.agg) : null, opts.color);
  // The time first, then the seq (dim): `09:05:07 #3 alice: hi`.
  return `${line.slice(0, 8)} ${paint(opts.color, ansi.dim, `#${m.seq}`)}${line.slice(8)}`;
}

// ---- conversations --------------------------------------------------------------------------

/** The other members of a conversation. */
export function peersOf(info: ConvInfo, me: string): string[] {
  return info.members.map((m) => m.user).filter((u) => u !== me);
}

/** What a conversation is called: the peer of a direct conversation, a group's title. */
export function convLabel(info: ConvInfo | undefined, me: string, id = info?.id ?? "?"): string {
  if (!info) return id;
  if (info.type === ConvType.Direct) return sanitize(peersOf(info, me)[0] ?? id);
  return sanitize(info.title || id);
}

/** A safety number in groups of five digits, as people read them to each other. */
export function formatSafetyNumber(user: string, digits: string): string {
  return `safety number with ${sanitize(user)}: ${digits.replace(/\s+/g, "").replace(/(\d{5})(?=\d)/g, "$1 ")}`;
}

export function formatPrompt(label: string | null): string {
  return label === null ? "[-] > " : `[${label}] > `;
}

/** One row of /list. */
export function formatListEntry(index: number, info: ConvInfo, me: string, unread: number, current: boolean): string {
  const kind = info.type === ConvType.Direct ? "direct" : `group of ${info.members.length}`;
  const mark = current ? "*" : " ";
  const count = unread > 0 ? `  ${unread} unread` : "";
  return `${mark} ${String(index).padStart(2)}. [${convLabel(info, me)}]  ${kind}  ${info.id}${count}`;
}

/** `(new message in [team] from carol – 3 unread)`; `from` is omitted for direct conversations (null). */
export function formatNewMessageNotice(label: string, from: string | null, unread: number): string {
  const who = from === null ? "" : ` from ${sanitize(from)}`;
  const count = unread > 1 ? ` – ${unread} unread` : "";
  return `(new message in [${label}]${who}${count})`;
}

// ---- presence and typing --------------------------------------------------------------------

/** `online`, `last seen HH:MM`, or `offline` (last seen unknown or hidden). */
function formatPresenceState(p: PresenceInfo | undefined, now: number): string {
  if (!p) return "presence unknown";
  if (p.online) return "online";
  if (p.lastSeen > 0) return `last seen ${formatClock(p.lastSeen, now)}`;
  return "offline";
}

/** `bob is online` / `bob was last seen HH:MM` / `bob is offline`. */
export function formatPresenceChange(p: PresenceInfo, now: number): string {
  const who = sanitize(p.user);
  if (p.online) return `${who} is online`;
  if (p.lastSeen > 0) return `${who} was last seen ${formatClock(p.lastSeen, now)}`;
  return `${who} is offline`;
}

/** One row of /who. */
export function formatMember(user: string, admin: boolean, me: string, presence: PresenceInfo | undefined, now: number): string {
  const tags = [user === me ? "(you)" : formatPresenceState(presence, now)];
  if (admin) tags.push("admin");
  return `  ${sanitize(user)}  ${tags.join(", ")}`;
}

/** `bob is typing…`, `bob and carol are typing…`, `3 people are typing…`; empty when nobody is. */
export function formatTyping(users: string[]): string {
  const u = users.map(sanitize);
  if (u.length === 0) return "";
  if (u.length === 1) return `${u[0]} is typing…`;
  if (u.length === 2) return `${u[0]} and ${u[1]} are typing…`;
  return `${u.length} people are typing…`;
}

// ---- errors and commands --------------------------------------------------------------------

/** `error: <message> (code N)` for protocol errors, `error: <message>` otherwise. */
export function formatError(e: unknown): string {
  if (e instanceof ProtocolError) return `error: ${e.message} (code ${e.code})`;
  if (e instanceof Error) return `error: ${e.message}`;
  return `error: ${String(e)}`;
}

export interface ParsedCommand {
  /** Lower-cased name without the slash. */
  name: string;
  /** Whitespace-separated arguments. */
  args: string[];
  /** Everything after the command name, trimmed. */
  rest: string;
}

/** Parses `/name args...`; null for a plain message line. `//text` is a message starting with `/`. */
export function parseCommand(line: string): ParsedCommand | null {
  const t = line.trim();
  if (!t.startsWith("/") || t.startsWith("//")) return null;
  const m = /^\/(\S*)\s*(.*)$/s.exec(t)!;
  const rest = (m[2] ?? "").trim();
  return { name: (m[1] ?? "").toLowerCase(), args: rest ? rest.split(/\s+/) : [], rest };
}

/** `bob,carol dave` -> [bob, carol, dave], without empties and duplicates. */
export function parseUserList(parts: string[]): string[] {
  return [...new Set(parts.flatMap((p) => p.split(",")).map((s) => s.trim()).filter(Boolean))];
}

/** `/group TITLE USER1,USER2,...`: the last argument is the member list when there are two or more. */
export function parseGroupArgs(args: string[]): { title: string; members: string[] } | null {
  if (args.length === 0) return null;
  if (args.length === 1) return { title: args[0]!, members: [] };
  return { title: args.slice(0, -1).join(" "), members: parseUserList([args[args.length - 1]!]) };
}

// ---- privacy, blocking, invitations ------------------------------------------------------------

const SETTING_NAMES: Record<string, keyof PrivacySettings> = {
  lastseen: "lastSeen",
  online: "online",
  groupadd: "groupAdd",
  receipts: "readReceipts",
};

/**
 * `/privacy lastseen contacts`, `/privacy receipts off`: the change to send, or an error message.
 * Several pairs may follow one another.
 */
export function parsePrivacyArgs(args: string[]): PrivacySetParams | string {
  if (args.length === 0 || args.length % 2 !== 0) return "usage: /privacy [lastseen|online|groupadd everyone|contacts|nobody] [receipts on|off]";
  const out: PrivacySetParams = {};
  for (let i = 0; i < args.length; i += 2) {
    const key = SETTING_NAMES[args[i]!.toLowerCase()];
    const value = args[i + 1]!.toLowerCase();
    if (!key) return `unknown setting ${JSON.stringify(args[i])}: lastseen, online, groupadd or receipts`;
    if (key === "readReceipts") {
      if (value !== "on" && value !== "off") return "receipts: on or off";
      out.readReceipts = value === "on";
    } else {
      if (value !== "everyone" && value !== "contacts" && value !== "nobody") return `${args[i]}: everyone, contacts or nobody`;
      out[key] = value as Visibility;
    }
  }
  return out;
}

/** The settings, one per line. */
export function formatPrivacy(p: PrivacySettings): string[] {
  return [
    "privacy:",
    `  last seen      ${p.lastSeen}`,
    `  online         ${p.online}`,
    `  add to groups  ${p.groupAdd}${p.groupAdd === "everyone" ? "" : " (others send an invitation)"}`,
    `  read receipts  ${p.readReceipts ? "on" : "off (you don't see others' either)"}`,
  ];
}

/** One row of /invites. */
export function formatInvitation(index: number, i: Invitation, now: number): string {
  return `  ${String(index).padStart(2)}. [${sanitize(i.title)}] from ${sanitize(i.by)}, ${formatClock(i.at, now)}  ${i.conv}`;
}

/** A list of users, or `(none)`. */
export function formatUserList(title: string, users: string[]): string {
  return users.length === 0 ? `${title}: (none)` : `${title}: ${users.map(sanitize).join(", ")}`;
}

// ---- the message lifecycle -------------------------------------------------------------------

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400 };

/** `30s`, `5m`, `2h`, `7d`, `1w` (a bare number is seconds); `off` or `0` is 0; null when unreadable. */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === "off" || t === "0") return 0;
  const m = /^(\d+)\s*([smhdw]?)$/.exec(t);
  if (!m) return null;
  const n = Number(m[1]) * UNITS[m[2] || "s"]!;
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}

/** 90 -> `90 s`, 3600 -> `1 h`, 604800 -> `7 d`: the largest unit that divides it. */
export function formatDuration(sec: number): string {
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["min", 60],
  ] as const) {
    if (sec >= size && sec % size === 0) return `${sec / size} ${unit}`;
  }
  return `${sec} s`;
}

/** `/edit 12 text`, `/reply 12 text`, `/react 12 👍`: the seq (`#12` works too) and the rest; null when there is no seq. */
export function parseSeqArgs(rest: string): { seq: number; text: string } | null {
  const m = /^#?(\d+)(?:\s+([\s\S]*))?$/.exec(rest.trim());
  if (!m) return null;
  const seq = Number(m[1]);
  return seq >= 1 && Number.isSafeInteger(seq) ? { seq, text: (m[2] ?? "").trim() } : null;
}

/** One conversation's own settings, as a line: `pinned, archived, muted until 18:30, marked unread`. */
export function formatChatSettings(s: ChatSettings, now: number): string {
  const parts: string[] = [];
  if (s.pinned) parts.push("pinned");
  if (s.archived) parts.push("archived");
  if (s.muteUntil > now) parts.push(s.muteUntil >= Number.MAX_SAFE_INTEGER ? "muted" : `muted until ${formatClock(s.muteUntil, now)}`);
  if (s.unread) parts.push("marked unread");
  return parts.length > 0 ? parts.join(", ") : "no settings (not pinned, archived or muted)";
}

export const HELP = [
  "commands:",
  "  /dm USER                 open a direct conversation with USER and switch to it",
  "  /group TITLE U1,U2,...   create a group and switch to it",
  "  /add USER[,USER...]      add members to the current group",
  "  /kick USER               remove a member from the current group",
  "  /leave                   leave the current group",
  "  /rename TITLE            rename the current group",
  "  /admin USER [off]        make USER an admin of the current group (or revoke it)",
  "  /list                    conversations with ids and unread counts",
  "  /switch N|ID|USER        switch by list number, conversation id, or direct peer",
  "  /history [N]             show N earlier messages of the current conversation",
  "  /who                     members of the current conversation with presence",
  "  /image PATH [CAPTION]    send an image (or /file PATH for any file); a thumbnail link follows",
  "  /media ID                print a download link for media of this conversation",
  "  /block USER  /unblock USER  /blocked   block a user (no direct messages, group adds, presence or typing)",
  "  /privacy [SETTING VALUE] show or change: lastseen|online|groupadd everyone|contacts|nobody, receipts on|off",
  "  /contacts [add|remove U...] your contacts (the privacy settings' \"contacts\")",
  "  /invites  /accept N|ID  /decline N|ID   group invitations",
  "  /link [approve]  /links  /unlink TOKEN  invite links to the current group; /join TOKEN uses one",
  "  /requests  /approve USER  /deny USER     requests to join the current group",
  "  /report [USER] REASON    report a user (default: the direct peer) with your last 10 messages here",
  "  /reply N TEXT            reply to message #N of the current conversation",
  "  /edit N TEXT             edit your message #N (for a while after sending it)",
  "  /react N [EMOJI]         react to message #N (no emoji: take your reaction back)",
  "  /delete N                delete message #N for everyone (yours, or any as a group admin)",
  "  /hide N[,N...]           delete messages for you only (on all your devices)",
  "  /forward N TO            forward message #N, media included, to TO (a /list number, id or user)",
  "  /timer DURATION|off      disappearing messages here: 30s, 5m, 1h, 7d, or off",
  "  /mute [DURATION|off]     no push notifications from here (for ever, or for a while)",
  "  /pin [off]  /archive [off]  /unread [off]  /settings   this conversation's own settings, on all your devices",
  "  /safety [USER]           safety numbers of the current encrypted conversation, to compare out of band",
  "  /encrypt                 turn on end-to-end encryption in the current conversation (🔒)",
  "  /help                    this text",
  "  /quit                    exit (or Ctrl-D)",
  "anything else is sent to the current conversation (start with // to send a line beginning with /)",
].join("\n");

/** `~` and `~/x` as a shell expands them (the path is typed after a command, not by a shell). */
export function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return home.replace(/\/+$/, "") + path.slice(1);
  return path;
}

/** Content type for a file to upload, from its extension. */
export function contentTypeFor(path: string): string {
  const ext = path.toLowerCase().split(".").pop() ?? "";
  const known: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    mp4: "video/mp4",
    webm: "video/webm",
    pdf: "application/pdf",
    txt: "text/plain",
  };
  return known[ext] ?? "application/octet-stream";
}
