// One conversation as this node sees it: which local users are members (the node subscribes to
// the conversation's subject once, however many of them are connected), and the native fan-out
// of its live messages.
//
// Per-device delivery (user-actor.ts) costs JavaScript for every device a message goes to: a
// mailbox turn, the exactly-once check, a queued write. In a group that is most of the server's
// work. So once a device has been sent, in order, every message of the conversation this node
// has heard, it joins the conversation's topic at the edge (Broadcaster), and each later message
// is written to all such devices by one native call. Order and exactly-once then rest on the node
// hearing the conversation's messages in seq order, which it checks:
// - a message at or below `published` was heard before: written to nobody here;
// - a message past `published + 1` means this node missed one (a bus outage): every device on
//   the topic goes back to per-device delivery, which fills the gap from the store;
// - a device leaves the topic when it resyncs, closes, or its user leaves the conversation.
// A device's own sends are not written back to it (the ack carried them), as before.
//
// Only conversations with FANOUT_MIN_MEMBERS local members use the topic: for two, per-device
// delivery costs no more, and keeps the 4002 close for a device that stops reading (a topic can
// only cut it, see transport.ts).

import type { BusListener } from "../bus/bus.ts";
import type { BusEvent } from "../bus/events.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { WireMessage } from "../proto/types.ts";
import { messageFrame } from "../proto/message-frame.ts";
import type { DeviceSession } from "./device-session.ts";
import type { Broadcaster } from "./transport.ts";
import type { UserActor } from "./user-actor.ts";

export const FANOUT_MIN_MEMBERS = 3;

export interface FanoutHost {
  /** The edge's fan-out; null until an edge serves this node (or in tests without one). */
  readonly broadcaster: Broadcaster | null;
  /** A local connection of `user`'s `device`, if there is one. */
  sessionOf(user: string, device: string): DeviceSession | undefined;
}

/** Hears the conversation's subject for its local members (Node.registerConversation). */
export class ConversationFanout implements BusListener {
  /** Local members, by user id. */
  readonly members = new Map<string, UserActor>();
  /** Devices on the topic. */
  private readonly live = new Set<DeviceSession>();
  /** Highest seq this node heard with none missing below it since it started listening; -1 before the first. */
  private published = -1;

  constructor(
    readonly conv: string,
    private readonly host: FanoutHost,
    private readonly metrics: Metrics,
  ) {}

  onEvent(e: BusEvent): void {
    // A receipt concerns a few users (the reader and the senders it covers): in a large group,
    // handing it to every member would cost members² per message.
    if (e.t === "receipt") {
      for (const u of e.to) this.members.get(u)?.onEvent(e);
      return;
    }
    // The topic first: a member it drops must hear this event per device.
    if (e.t === "msg") this.heard(e.msg);
    else if (e.t === "conv" && e.removed.length > 0) this.removed(e.removed);
    for (const m of this.members.values()) m.onEvent(e);
  }

  /** A message heard on the conversation's subject, in the order the node heard them. */
  heard(msg: WireMessage): void {
    const before = this.published;
    if (msg.seq <= before) return;
    if (this.live.size > 0) {
      if (msg.seq === before + 1) this.write(msg);
      // Every device on the topic has everything up to `before`, and gets the rest per device.
      else this.dropAll();
    }
    this.published = msg.seq;
  }

  private write(msg: WireMessage): void {
    const sender = this.host.sessionOf(msg.from, msg.dev);
    const except = sender && this.live.has(sender) ? sender : undefined;
    const n = this.live.size - (except ? 1 : 0);
    this.host.broadcaster!.publish(this.conv, messageFrame(msg), except?.transport);
    this.metrics.messagesDelivered.n += n;
    this.metrics.messagesFannedOut.n += n;
    this.metrics.framesOut.n += n;
  }

  /**
   * Called by a user actor that has just sent `seq` to `s` with nothing missing below it: if that
   * is everything this node heard, `s` joins the topic. Returns whether it is on the topic.
   */
  join(s: DeviceSession, seq: number): boolean {
    if (this.live.has(s)) return true;
    if (seq !== this.published || !this.host.broadcaster || this.members.size < FANOUT_MIN_MEMBERS || !s.synced || s.closed) return false;
    s.transport.subscribe(this.conv);
    (s.live ??= new Set()).add(this.conv);
    this.live.add(s);
    return true;
  }

  /** Takes `s` off the topic, back to per-device delivery from where the topic left it. */
  leave(s: DeviceSession): void {
    if (!this.live.delete(s)) return;
    s.live!.delete(this.conv);
    s.sent.set(this.conv, this.published);
    s.transport.unsubscribe(this.conv);
    this.members.get(s.user)?.leftTopic(this.conv);
  }

  /** Takes every device of `users` off the topic (they left the conversation). */
  removed(users: readonly string[]): void {
    for (const s of [...this.live]) if (users.includes(s.user)) this.leave(s);
  }

  /** Every device back to per-device delivery (the node may have missed messages). */
  dropAll(): void {
    for (const s of [...this.live]) this.leave(s);
  }
}
