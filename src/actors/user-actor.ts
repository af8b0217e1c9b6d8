// One actor per user with a device connected to this node. It owns those devices' sessions
// and handles, one at a time through its mailbox, everything pushed to them: messages (with
// exactly-once, in-order delivery per device), receipts, typing, membership changes and the
// SYNC that resumes a device from its cursors. It is dropped when its last device leaves.

import { DisconnectCode, PushKind } from "../proto/codes.ts";
import { encodePush } from "../proto/codec.ts";
import { messageOfFrame } from "../proto/message-frame.ts";
import type { HiddenMessages, ReceiptPush, SyncConvState, WireMessage } from "../proto/types.ts";
import type { NodeContext } from "./context.ts";
import type { DeviceSession } from "./device-session.ts";
import type { BusListener } from "../bus/bus.ts";
import type { BusEvent, ConversationEvent, ReceiptEvent } from "../bus/events.ts";
import { allBut } from "./receipt-audience.ts";
import { Mailbox } from "./mailbox.ts";
import { RateLimits } from "./rate-limit.ts";
import type { RateClass } from "../config/config.ts";
import { receiptFor } from "../safety/policy.ts";
import { HiddenFilter } from "../lifecycle/hidden-filter.ts";
import { FRAME_ROWS } from "../lifecycle/page-rows.ts";
import { ObjectMemo } from "../object-memo.ts";

/** Receipt frames by event, for the receivers that all see the same one (UserActor.receiptFrame). */
const commonReceiptFrames = new ObjectMemo<ReceiptEvent, Uint8Array>("msgr.commonReceiptFrame");

/** Rows read per store query when streaming a backlog. */
const PAGE = 500;

/** What the user actor needs from its node: the local index of conversation members. */
export interface UserActorHost {
  registerConversation(conv: string, actor: UserActor): void;
  unregisterConversation(conv: string, actor: UserActor): void;
  /** `s` has been sent `seq` of `conv` with nothing missing: it may get the rest by the native fan-out (conversation-fanout.ts). */
  joinTopic(s: DeviceSession, conv: string, seq: number): boolean;
  /** `s` goes back to per-device delivery in every conversation. */
  leaveTopics(s: DeviceSession): void;
}

/** Its node subscribes it to the user's bus subject while the user has a device connected there. */
// One per connected user, so its size is watched like DeviceSession's: with the mailbox's four
// fields it has twelve, the most that fit in 112 bytes (13 take 160).
export class UserActor extends Mailbox implements BusListener {
  /**
   * This user's connections on this node, at most one per device. An array because a user has a
   * handful of devices and most have one (a Map's table is ten times the size of a one-element
   * array, on every idle connection), and replaced rather than changed in place, so a loop over it
   * is not disturbed by a connection that closes while it runs.
   */
  sessions: readonly DeviceSession[] = [];
  /** This user's command rates on this node (config `rates`); none while every bucket is full. */
  private limits: RateLimits | null = null;
  /** conversation id -> seq of the first message this user may receive. */
  private readonly convs = new Map<string, number>();
  /** Made when first read (most connections never read history); see `hidden`. */
  private hiddenFilter: HiddenFilter | null = null;
  /**
   * Conversations in which every device of this user gets messages by the native fan-out: their
   * message events need nothing from this actor. Forgotten for a conversation when a device
   * leaves its topic, and for all when a device connects.
   */
  private onTopic: Set<string> | null = null;

  constructor(
    readonly user: string,
    private readonly ctx: NodeContext,
    private readonly host: UserActorHost,
  ) {
    super();
  }

  /** Messages this user hid for themselves (delete for me): tombstones in what they read back. */
  get hidden(): HiddenFilter {
    return (this.hiddenFilter ??= new HiddenFilter(this.user, this.ctx.metadata));
  }

  /** Takes a token of the user's rate for `cls`: 0 when the command may run now, else ms to wait. */
  takeRate(cls: RateClass, now: number): number {
    return (this.limits ??= new RateLimits(this.ctx.config.rates)).take(cls, now);
  }

  /** Drops the rate buckets that have filled up again (Node.sweep): an idle user carries none. */
  shed(now: number): void {
    if (this.limits?.shed(now)) this.limits = null;
  }

  protected mailboxFailed(err: unknown): void {
    this.ctx.log.error({ err, user: this.user }, "user actor task failed");
  }

  /**
   * Loads the user's conversations and joins their local index; run once, first in the mailbox.
   * Done once this node hears every subject it subscribed to for the user (their user subject,
   * their conversations): SYNC, which waits for it, reads the store only after that, so nothing
   * published in between goes unheard.
   */
  async activate(): Promise<void> {
    for (const { conv, joinedSeq } of await this.ctx.metadata.listUserConversations(this.user)) this.join(conv, joinedSeq);
    await this.ctx.bus.ready();
  }

  /** Leaves every index; the node calls it when the last device is gone. */
  passivate(): void {
    for (const conv of this.convs.keys()) this.host.unregisterConversation(conv, this);
    this.convs.clear();
  }

  /** A connection of this user opened on this node (replacing any older one of its device). */
  addSession(s: DeviceSession): void {
    this.sessions = [...this.sessions.filter((o) => o.device !== s.device), s];
    this.onTopic = null;
  }

  /** Forgets a connection that closed; false when it was not this user's (a replaced one). */
  removeSession(s: DeviceSession): boolean {
    if (!this.sessions.includes(s)) return false;
    this.sessions = this.sessions.filter((o) => o !== s);
    return true;
  }

  /** The connection of `device` on this node. */
  session(device: string): DeviceSession | undefined {
    for (const s of this.sessions) if (s.device === device) return s;
    return undefined;
  }

  /** One of this user's devices left the topic of `conv`. */
  leftTopic(conv: string): void {
    this.onTopic?.delete(conv);
  }

  conversations(): string[] {
    return [...this.convs.keys()];
  }

  private join(conv: string, joinedSeq: number): void {
    if (this.convs.has(conv)) return;
    this.convs.set(conv, joinedSeq);
    this.host.registerConversation(conv, this);
  }

  private leave(conv: string): void {
    if (!this.convs.delete(conv)) return;
    this.onTopic?.delete(conv);
    this.host.unregisterConversation(conv, this);
    for (const s of this.sessions) s.sent.delete(conv);
  }

  /** Entry point for bus events addressed to this user or to one of its conversations. */
  onEvent(event: BusEvent): void {
    switch (event.t) {
      case "msg":
        if (this.onTopic?.has(event.msg.conv)) return;
        return this.enqueue(() => this.deliver(event.msg));
      case "receipt":
        if (event.to.includes(this.user)) this.enqueue(() => this.relayReceipt(event));
        return;
      case "typing":
        return this.enqueue(async () => {
          if (!(await this.ctx.safety.typingVisible(this.user, event.user))) return;
          for (const s of this.sessions) {
            if (s.synced && !(event.user === this.user && s.device === event.dev)) s.push(PushKind.Typing, { conv: event.conv, user: event.user, dev: event.dev, on: event.on });
          }
        });
      case "conv":
        return this.enqueue(() => this.conversationChanged(event));
      case "device":
        return this.enqueue(() => {
          // The same device connected to another node: the older of the two connections goes.
          const s = this.session(event.device);
          const id = s?.id; // made on each read (device-session.ts)
          if (s && id !== event.session && (s.openedAt < event.at || (s.openedAt === event.at && id! < event.session))) {
            s.close(DisconnectCode.Replaced, "replaced by a newer connection of this device");
          }
        });
      case "notice":
        // Not made yet: it reads the store when first used, where the notice's change was written first.
        if (event.kind === PushKind.Hidden) this.hiddenFilter?.heard((event.body as HiddenMessages).conv);
        return this.enqueue(() => {
          for (const s of this.sessions) if (s.synced) s.push(event.kind, event.body);
        });
      case "presence":
        return;
    }
  }

  // ---- delivery ---------------------------------------------------------------------------

  /**
   * Delivers `msg` to every synced device. Synchronous unless a device has a gap below it to fill
   * from the store first: then the rest of the work is a promise the mailbox waits for.
   */
  private deliver(msg: WireMessage): void | Promise<void> {
    let pending: Promise<void> | undefined;
    let onTopic = 0;
    for (const s of this.sessions) {
      if (!s.synced || s.closed) continue;
      // Once one device needs the store, the others wait their turn, so each device's order holds.
      if (pending) pending = pending.then(() => this.deliverTo(s, msg));
      else pending = this.deliverTo(s, msg) ?? undefined;
      if (s.live?.has(msg.conv)) onTopic++;
    }
    if (onTopic > 0 && onTopic === this.sessions.length) (this.onTopic ??= new Set()).add(msg.conv);
    return pending;
  }

  /**
   * Pushes `msg` to one device exactly once and in order: an older seq is dropped, a gap is
   * filled from the store first (the only asynchronous case). The sending device already has
   * its own message (the ack carried its seq), so it is only marked as sent there.
   */
  private deliverTo(s: DeviceSession, msg: WireMessage): void | Promise<void> {
    if (s.live?.has(msg.conv)) return;
    let sent = s.sent.get(msg.conv);
    if (sent === undefined) {
      const joined = this.convs.get(msg.conv);
      if (joined === undefined) return;
      sent = joined - 1;
    }
    if (msg.seq <= sent) return;
    if (msg.seq > sent + 1) return this.fillThenDeliver(s, msg, sent);
    if (!(msg.dev === s.device && msg.from === this.user) && !s.pushMessage(msg)) return;
    s.sent.set(msg.conv, msg.seq);
    this.host.joinTopic(s, msg.conv, msg.seq);
  }

  /**
   * A live message past a gap: the device gets the missing ones from the store first. They are
   * live sends too, heard out of order (in a cluster, two nodes that commit in one conversation
   * publish on connections of their own, so a node can hear seq n + 1 before n): the device's own
   * sends among them are skipped, as on the live path, where its ack carries them.
   */
  private async fillThenDeliver(s: DeviceSession, msg: WireMessage, sent: number): Promise<void> {
    const last = await this.stream(s, msg.conv, sent, msg.seq - 1, true);
    if (last < msg.seq - 1 || s.closed) return;
    if (!(msg.dev === s.device && msg.from === this.user) && !s.pushMessage(msg)) return;
    s.sent.set(msg.conv, msg.seq);
    this.host.joinTopic(s, msg.conv, msg.seq);
  }

  /**
   * Streams stored messages (after, upTo] to a device with flow control; returns the last seq sent.
   * With `live`, the device's own messages are passed over (see fillThenDeliver).
   */
  private async stream(s: DeviceSession, conv: string, after: number, upTo: number, live = false): Promise<number> {
    let last = after;
    while (last < upTo && !s.closed) {
      const rows = await this.hidden.apply(conv, await this.ctx.messages.frames(conv, last, Math.min(PAGE, upTo - last)), FRAME_ROWS);
      if (rows.length === 0) break;
      for (const f of rows) {
        if (f.seq > upTo) break;
        // Unlike live delivery, a backlog includes the device's own messages: an ack it never
        // received, or local state it lost, must not leave a hole in its conversation.
        if (!(live && this.sentBy(s, f.frame)) && !s.pushMessageFrame(f.frame)) return last;
        last = f.seq;
        s.sent.set(conv, last);
      }
      await s.drained(this.ctx.config.limits.socketBufferBytes);
    }
    return last;
  }

  /** Whether the stored MESSAGE push `frame` is one `s` sent (read back: only gap fills ask). */
  private sentBy(s: DeviceSession, frame: Uint8Array): boolean {
    const m = messageOfFrame(frame);
    return m.dev === s.device && m.from === this.user;
  }

  /** Streams whatever each live device is missing in any conversation (after a bus outage). */
  async catchUp(): Promise<void> {
    for (const s of this.sessions) {
      if (!s.synced) continue;
      for (const [conv, joinedSeq] of this.convs) {
        // On a topic since the outage: the conversation's owner announces its latest message
        // again (Node.recoverFromBusOutage), and a gap there sends the device back to this path.
        if (s.live?.has(conv)) continue;
        const last = await this.ctx.messages.lastSeq(conv);
        const sent = s.sent.get(conv) ?? joinedSeq - 1;
        if (last > sent) await this.stream(s, conv, sent, last);
      }
    }
  }

  private relayReceipt(e: ReceiptEvent): void {
    let frame: Uint8Array | undefined;
    for (const s of this.sessions) {
      // The reader's own device sent the receipt: it knows.
      if (!s.synced || (e.user === this.user && s.device === e.dev)) continue;
      frame ??= this.receiptFrame(e);
      s.write(frame);
    }
  }

  /** The receipt as this user's devices see it; most receivers of one event see the same frame, encoded once. */
  private receiptFrame(e: ReceiptEvent): Uint8Array {
    // The reader and the holders of the lowest markers see their own variant: aggregates exclude
    // the receiving user ("everyone but me has delivered / read up to"), and hidden read markers
    // are visible to the reader alone (receiptFor).
    const common = this.user !== e.user && this.user !== e.deliveredMin[1] && this.user !== e.readMin[1];
    if (common) {
      const cached = commonReceiptFrames.get(e);
      if (cached) return cached;
    }
    const allDelivered = allBut(e.deliveredMin, this.user);
    const allRead = allBut(e.readMin, this.user);
    const frame = encodePush(PushKind.Receipt, receiptFor(this.user, e, { conv: e.conv, user: e.user, delivered: e.delivered, read: e.read, allDelivered, allRead }) satisfies ReceiptPush);
    if (common) commonReceiptFrames.set(e, frame);
    return frame;
  }

  private async conversationChanged(e: ConversationEvent): Promise<void> {
    const conv = e.info.id;
    if (e.removed.includes(this.user)) {
      if (!this.convs.has(conv)) return;
      this.leave(conv);
      for (const s of this.sessions) if (s.synced) s.push(PushKind.Conversation, { conv: e.info, removed: true });
      return;
    }
    const me = e.info.members.find((m) => m.user === this.user);
    if (!me) return;
    const joinedSeq = this.convs.get(conv) ?? me.joined;
    const isNew = !this.convs.has(conv);
    this.join(conv, joinedSeq);
    // Subscribed before the store is read below: whatever it does not hold yet is heard live.
    if (isNew) await this.ctx.bus.ready();
    for (const s of this.sessions) {
      if (!s.synced) continue;
      s.push(PushKind.Conversation, { conv: e.info, removed: false });
      // Messages published before this node subscribed to the conversation come from the store.
      if (isNew && !s.sent.has(conv)) {
        s.sent.set(conv, joinedSeq - 1);
        await this.stream(s, conv, joinedSeq - 1, await this.ctx.messages.lastSeq(conv));
      }
    }
  }

  // ---- resume -----------------------------------------------------------------------------

  /**
   * Resumes a device from its cursors across all conversations: replies with what will come,
   * streams the backlog in order, then marks the device live. Runs in the mailbox, so live
   * messages queue behind it and are then de-duplicated by seq.
   */
  sync(s: DeviceSession, cursors: Record<string, number>, reply: (convs: SyncConvState[]) => void): Promise<void> {
    return this.call(async () => {
      this.host.leaveTopics(s);
      s.synced = false;
      s.sent = new Map();
      const plan: SyncConvState[] = [];
      // Every conversation's bounds at once: with a networked store, one round trip each in
      // sequence would make a resume as slow as the user has conversations.
      const convs = [...this.convs];
      const bounds = await Promise.all(convs.map(([conv]) => Promise.all([this.ctx.messages.lastSeq(conv), this.ctx.messages.firstRetainedSeq(conv)])));
      for (const [i, [conv, joinedSeq]] of convs.entries()) {
        const [last, first] = bounds[i]!;
        const start = Math.max(joinedSeq, first) - 1;
        const cursor = cursors[conv];
        let from = start;
        // A cursor ahead of the server (another server, a restore) or behind what is still kept cannot resume.
        const reset = cursor !== undefined && (cursor > last || cursor + 1 < first);
        if (cursor !== undefined && !reset) from = Math.max(cursor, start);
        s.sent.set(conv, from);
        // Every conversation is listed, so the device learns all of them and their positions at once.
        plan.push(reset ? { conv, from: from + 1, to: last, reset } : { conv, from: from + 1, to: last });
      }
      for (const conv of Object.keys(cursors)) if (!this.convs.has(conv)) plan.push({ conv, from: 0, to: 0, removed: true });
      reply(plan);
      s.synced = true;
      for (const p of plan) if (!p.removed && p.from <= p.to) await this.stream(s, p.conv, p.from - 1, p.to);
      s.push(PushKind.SyncDone, {});
    });
  }
}
