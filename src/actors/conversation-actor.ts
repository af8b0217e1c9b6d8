// One actor per active conversation: the single writer of its messages, membership and
// receipt markers. Commands arrive through its mailbox, so membership checks, message appends
// and membership changes happen in one serial order. Sends are pipelined: the mailbox issues
// the append and moves on; the store commits appends in order (group commit) and each commit
// is published to the conversation's subject in seq order. Idle actors are dropped by the node.

import { ConvType, ErrorCode, MessageKind, ReceiptType, SystemOp } from "../proto/codes.ts";
import { pack } from "../proto/codec.ts";
import type { ConvInfo, SendResult, SystemEvent } from "../proto/types.ts";
import { MembershipError, type ConversationRecord, type NewMessage, type StoredMessage } from "../storage/types.ts";
import type { NodeContext } from "./context.ts";
import { CommandError, notMember } from "../proto/command-error.ts";
import type { BusEvent, ConversationEvent, LowestTwo, ReceiptEvent } from "../bus/events.ts";
import { LowestMarkers } from "./lowest-markers.ts";
import { correctionAudience, receiptAudience, type Minimums } from "./receipt-audience.ts";
import { Mailbox } from "./mailbox.ts";
import { subjects } from "../bus/subjects.ts";
import { BoundedMap } from "../bounded-map.ts";

interface MemberState {
  admin: boolean;
  joinedSeq: number;
  delivered: number;
  read: number;
}

/** What the conversation actor asks of its node. */
export interface ConversationHost {
  /** Whether `user` has a device connected to this node (and so is online). */
  hasLocalDevices(user: string): boolean;
  /** How many of the conversation's members have a device connected to this node. */
  localMembers(conv: string): number;
}

const RESEND = { resend: true } as const;

interface AppendOpts {
  media?: string;
  resend?: boolean;
  /** The message this one edits, reacts to or replies to. */
  ref?: number;
}

/** A typing state repeated within this long after it was relayed is not relayed again. */
const TYPING_REPEAT_MS = 3_000;

/** How many recent acceptance times are kept for the delivered/read stage latencies. */
const RECENT_TS = 2048;

export class ConversationActor extends Mailbox {
  /** Clock time of the last command, for idle passivation. */
  lastUsed: number;
  private lastSeq = 0;
  private inflight = 0;
  private settledWaiters: (() => void)[] = [];
  private readonly recentTs = new BoundedMap<number, number>(RECENT_TS);
  /** user + device -> the typing state last relayed and when (only devices shown as typing). */
  private readonly typingRelayed = new Map<string, { on: boolean; at: number }>();
  /** The members by each marker, lowest first (for the receipts' "all but me" aggregates). */
  private readonly lowest = { delivered: new LowestMarkers(), read: new LowestMarkers() };

  private constructor(
    private readonly ctx: NodeContext,
    private readonly host: ConversationHost,
    private record: ConversationRecord,
    private readonly members: Map<string, MemberState>,
    private readonly lastSentBy: Map<string, number>,
    lastSeq: number,
    /** Leaves the bus subscription that load() made for this actor. */
    private readonly unsubscribe: () => void,
  ) {
    super();
    this.lastSeq = lastSeq;
    this.lastUsed = ctx.clock.now();
    this.subject = subjects.conversation(record.id);
    for (const [user, m] of members) this.markersMoved(user, m);
  }

  /** The conversation's bus subject, made once. */
  private readonly subject: string;

  protected mailboxFailed(err: unknown): void {
    this.ctx.log.error({ err, conv: this.record.id }, "conversation actor task failed");
  }

  /** Leaves the bus; the node calls it when it drops the actor. */
  close(): void {
    this.unsubscribe();
  }

  private observe(e: BusEvent): void {
    if ("origin" in e && e.origin === this.ctx.config.server.nodeId) return;
    switch (e.t) {
      case "msg":
        this.lastSeq = Math.max(this.lastSeq, e.msg.seq);
        if (e.msg.from && this.members.has(e.msg.from)) this.lastSentBy.set(e.msg.from, Math.max(this.lastSentBy.get(e.msg.from) ?? 0, e.msg.seq));
        return;
      case "receipt": {
        const m = this.members.get(e.user);
        if (!m) return;
        m.delivered = Math.max(m.delivered, e.delivered);
        m.read = Math.max(m.read, e.read);
        this.markersMoved(e.user, m);
        this.correctAggregates(e);
        return;
      }
      case "conv": {
        this.record = { ...this.record, title: e.info.title, timer: e.info.timer };
        this.replaceMembers(e.info.members.map((x) => ({ user: x.user, admin: x.admin, joinedSeq: x.joined, delivered: x.delivered, read: x.read })));
        return;
      }
    }
  }

  /** Takes another node's (or the store's) member list; markers keep whichever is further. */
  private replaceMembers(list: { user: string; admin: boolean; joinedSeq: number; delivered: number; read: number }[]): void {
    const next = new Map<string, MemberState>();
    for (const x of list) {
      const mine = this.members.get(x.user);
      next.set(x.user, {
        admin: x.admin,
        joinedSeq: x.joinedSeq,
        delivered: Math.max(x.delivered, mine?.delivered ?? 0),
        read: Math.max(x.read, mine?.read ?? 0),
      });
    }
    this.members.clear();
    this.lowest.delivered.clear();
    this.lowest.read.clear();
    for (const [u, m] of next) {
      this.members.set(u, m);
      this.markersMoved(u, m);
    }
  }

  /**
   * Whether `user` is a member, asking the store again before saying no in a cluster: another
   * node may have just added them, and its announcement may still be on the way. Only a refusal
   * pays for the read.
   */
  async isMemberNow(user: string): Promise<boolean> {
    if (this.members.has(user) || !this.ctx.bus.distributed) return this.members.has(user);
    await this.call(async () => {
      if (!this.members.has(user)) this.replaceMembers(await this.ctx.metadata.listMembers(this.record.id));
    });
    return this.members.has(user);
  }

  /**
   * Reads the conversation from the store. In a cluster another node may host an actor for it
   * too: this one learns that actor's commits, markers and membership changes from the bus (its
   * own come back too, and are skipped). It subscribes before the store is read, and replays what
   * it heard meanwhile (observing is idempotent: markers and seqs only rise), so that a commit made
   * elsewhere during the read is neither missing from the read nor missed on the bus. Missing it
   * would leave lastSeq behind, and receipts up to the new message would be cut short at the old
   * one. On one node there is no one else to hear from.
   */
  static async load(ctx: NodeContext, host: ConversationHost, id: string): Promise<ConversationActor | null> {
    let actor: ConversationActor | null = null;
    const heard: BusEvent[] = [];
    let unsubscribe = () => {};
    if (ctx.bus.distributed) {
      const subject = subjects.conversation(id);
      const listener = { onEvent: (e: BusEvent) => (actor ? actor.observe(e) : heard.push(e)) };
      ctx.bus.subscribe(subject, listener);
      unsubscribe = () => ctx.bus.unsubscribe(subject, listener);
      await ctx.bus.ready();
    }
    try {
      const record = await ctx.metadata.getConversation(id);
      if (!record) {
        unsubscribe();
        return null;
      }
      const [rows, lastSeq, lastSentBy] = await Promise.all([ctx.metadata.listMembers(id), ctx.messages.lastSeq(id), ctx.messages.lastSeqBySender(id)]);
      const members = new Map<string, MemberState>();
      for (const m of rows) members.set(m.user, { admin: m.admin, joinedSeq: m.joinedSeq, delivered: m.delivered, read: m.read });
      actor = new ConversationActor(ctx, host, record, members, lastSentBy, lastSeq, unsubscribe);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    for (const e of heard) actor.observe(e);
    return actor;
  }

  get id(): string {
    return this.record.id;
  }

  /** True when nothing is queued or in flight, so the actor can be dropped from memory. */
  get idle(): boolean {
    return this.tasks === 0 && this.inflight === 0;
  }

  /** ConvType: direct or group. */
  get type(): number {
    return this.record.type;
  }

  readonly isMember = (user: string): boolean => this.members.has(user);

  /** A member other than `user` (the peer, in a direct conversation), without building info(). */
  otherMember(user: string): string | undefined {
    for (const u of this.members.keys()) if (u !== user) return u;
    return undefined;
  }

  joinedSeq(user: string): number | undefined {
    return this.members.get(user)?.joinedSeq;
  }

  info(): ConvInfo {
    const members = [...this.members].map(([user, m]) => ({ user, admin: m.admin, joined: m.joinedSeq, delivered: m.delivered, read: m.read }));
    const info: ConvInfo = { id: this.record.id, type: this.record.type, title: this.record.title, lastSeq: this.lastSeq, members };
    if (this.record.timer) info.timer = this.record.timer;
    return info;
  }

  /** Whether `user` is one of the group's admins. */
  isAdmin(user: string): boolean {
    return this.members.get(user)?.admin === true;
  }

  // ---- messages -------------------------------------------------------------------------

  /**
   * Accepts a message; resolves with the sender's ack once it is durable. A quiet conversation
   * (nothing queued in the mailbox) takes it at once, without a mailbox hop or a promise of its
   * own: the append is issued in the caller's stack.
   */
  send(from: string, dev: string, cid: string, kind: number, body: Uint8Array, acceptedAt: number, opts: AppendOpts = {}): Promise<SendResult> {
    if (this.tasks === 0) return this.accept(from, dev, cid, kind, body, acceptedAt, opts);
    return this.call(() => this.accept(from, dev, cid, kind, body, acceptedAt, opts));
  }

  private accept(from: string, dev: string, cid: string, kind: number, body: Uint8Array, acceptedAt: number, opts: AppendOpts): Promise<SendResult> {
    this.lastUsed = this.ctx.clock.now();
    if (!this.members.has(from)) return Promise.reject(notMember());
    if (kind === MessageKind.System) return Promise.reject(new CommandError(ErrorCode.InvalidParams, "kind: system messages are written by the server"));
    return this.append(from, dev, cid, kind, body, acceptedAt, opts);
  }

  /**
   * For the message lifecycle (src/lifecycle): an append from inside a task already running in
   * this actor's mailbox (so nothing of the conversation runs in between), with `beforePublish`
   * run after the commit and before anyone hears of the message (an edit rewrites its target).
   */
  appendInTurn(from: string, dev: string, cid: string, kind: number, body: Uint8Array, acceptedAt: number, opts: AppendOpts, beforePublish: (m: StoredMessage) => Promise<void>): Promise<SendResult> {
    this.lastUsed = this.ctx.clock.now();
    if (!this.members.has(from)) return Promise.reject(notMember());
    return this.append(from, dev, cid, kind, body, acceptedAt, opts, beforePublish);
  }

  /** Issues the append without waiting; publication happens in commit (= seq) order. */
  private append(from: string, dev: string, cid: string, kind: number, body: Uint8Array, acceptedAt: number, { media, resend, ref }: AppendOpts, beforePublish?: (m: StoredMessage) => Promise<void>): Promise<SendResult> {
    this.inflight++;
    const ts = this.ctx.clock.now();
    const msg: NewMessage = { conv: this.record.id, id: this.ctx.ids.next(), from, dev, cid, kind, body, ts };
    if (media) msg.media = media;
    if (ref !== undefined) msg.ref = ref;
    // Disappearing messages: the timer in force when the message is accepted decides (system messages stay).
    if (this.record.timer && kind !== MessageKind.System) msg.exp = ts + this.record.timer * 1000;
    const stored = this.ctx.messages.append(msg, resend ? RESEND : undefined);
    return (beforePublish ? stored.then(async (r) => (r.duplicate ? r : (await beforePublish(r.message), r))) : stored).then(
      ({ message, duplicate }) => {
        this.settle();
        if (!duplicate) this.committed(message, acceptedAt);
        const ack: SendResult = { id: message.id, seq: message.seq, ts: message.ts, dup: duplicate };
        if (message.exp !== undefined) ack.exp = message.exp;
        return ack;
      },
      (err) => {
        this.settle();
        this.ctx.log.error({ err, conv: this.record.id }, "append failed");
        throw new CommandError(ErrorCode.Unavailable, "storage unavailable; retry with the same client id");
      },
    );
  }

  private committed(message: StoredMessage, acceptedAt: number): void {
    const m = this.ctx.metrics;
    m.messagesAccepted.n++;
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    if (message.from && this.members.has(message.from)) this.lastSentBy.set(message.from, message.seq);
    // Stage latencies of a sample of messages (Metrics.sampled): observing every one would cost
    // a histogram update per stage per message.
    const sampled = m.sampled(message.seq);
    if (sampled) {
      m.observeStage("durable", acceptedAt, Date.now(), message.conv, message.seq);
      this.recentTs.set(message.seq, acceptedAt);
    }
    this.ctx.bus.publish(this.subject, { t: "msg", msg: message, origin: this.ctx.config.server.nodeId });
    if (sampled) m.observeStage("routed", acceptedAt, Date.now(), message.conv, message.seq);
    // Members with no device online anywhere hear about it by push. Those with a device on this
    // node are online by definition: only the others cost the notifier a presence lookup.
    // When every member has a device here (a busy group, all online), there is nobody to look up.
    if (this.ctx.push && message.kind !== MessageKind.System && this.host.localMembers(this.record.id) < this.members.size) {
      let away: string[] | null = null;
      for (const user of this.members.keys()) {
        if (user === message.from || this.host.hasLocalDevices(user)) continue;
        (away ??= []).push(user);
      }
      if (away) this.ctx.push.notify(away, this.record.id);
    }
  }

  /**
   * Publishes the latest committed message again. After a bus outage, commits published while
   * this node was cut off never reached the other nodes; seeing this seq, their devices fill the
   * gap from the store. Devices that already have it drop it as a duplicate.
   */
  republishLatest(): void {
    this.enqueue(async () => {
      const [latest] = await this.ctx.messages.history(this.record.id, Number.MAX_SAFE_INTEGER, 1);
      if (latest) this.ctx.bus.publish(this.subject, { t: "msg", msg: latest, origin: this.ctx.config.server.nodeId });
    });
  }

  private settle(): void {
    if (--this.inflight === 0) {
      const w = this.settledWaiters;
      this.settledWaiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves once nothing is queued and no append is outstanding (a drain waits for it). */
  async settled(): Promise<void> {
    while (!this.idle) {
      await this.mailboxEmpty();
      await this.quiesce();
    }
  }

  /** Waits until every issued append has committed, so lastSeq is exact. */
  private quiesce(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.settledWaiters.push(r));
  }

  private async appendSystem(event: SystemEvent): Promise<number> {
    const r = await this.append(event.by, "", "", MessageKind.System, pack(event), this.ctx.clock.now(), {});
    return r.seq;
  }

  // ---- receipts and typing --------------------------------------------------------------

  /**
   * Moves a member's delivered or read marker forward and relays it; resolves once it is stored.
   * `hideRead` (src/safety): other members must not see the read marker, nor learn that it moved.
   */
  receipt(user: string, dev: string, type: number, seq: number, hideRead = false): Promise<void> {
    // A marker is cut at the newest message there is. A device may hold one this actor has not
    // heard of: in a cluster, a message another node committed, read through HISTORY before the
    // bus brought it here. The store has it, so a marker past this actor's last seq is cut at the
    // store's (and the actor learns of it); cut at the actor's own, the marker would stay short
    // until the device's next receipt, which may never come.
    if (seq > this.lastSeq) {
      return this.ctx.messages.lastSeq(this.record.id).then(
        (stored) => this.moveMarker(user, dev, type, seq, hideRead, stored),
        () => Promise.reject(new CommandError(ErrorCode.Unavailable, "storage unavailable; retry")),
      );
    }
    return this.moveMarker(user, dev, type, seq, hideRead, 0);
  }

  /** receipt(), in the mailbox; `stored`: the store's last seq when read for it (0: not read). */
  private moveMarker(user: string, dev: string, type: number, seq: number, hideRead: boolean, stored: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        this.lastUsed = this.ctx.clock.now();
        const m = this.members.get(user);
        if (!m) return reject(notMember());
        this.lastSeq = Math.max(this.lastSeq, stored);
        const upTo = Math.min(seq, this.lastSeq);
        const deliveredBefore = m.delivered;
        const before = type === ReceiptType.Read ? m.read : m.delivered;
        const minsBefore = this.minimums();
        if (type === ReceiptType.Read) m.read = Math.max(m.read, upTo);
        m.delivered = Math.max(m.delivered, type === ReceiptType.Read ? m.read : upTo);
        this.markersMoved(user, m);
        const after = type === ReceiptType.Read ? m.read : m.delivered;
        if (after === before) return resolve();
        const acceptedAt = this.recentTs.get(after);
        // Only sampled messages are in recentTs (see committed).
        if (acceptedAt !== undefined) this.ctx.metrics.observeStage(type === ReceiptType.Read ? "read" : "delivered", acceptedAt, Date.now(), this.record.id, after);
        const e = this.receiptEvent(user, dev, m, before, minsBefore);
        if (hideRead) Object.assign(e, { hideRead, to: m.delivered === deliveredBefore ? [user] : e.to });
        this.ctx.bus.publish(this.subject, e);
        this.ctx.cursors.save({ conv: this.record.id, user, delivered: m.delivered, read: m.read }).then(resolve, () =>
          reject(new CommandError(ErrorCode.Unavailable, "storage unavailable; retry")),
        );
      });
    });
  }

  /** The announcement of `user`'s moved markers, to those it concerns (receipt-audience.ts). */
  private receiptEvent(user: string, dev: string, m: MemberState, before: number, minsBefore: Minimums): ReceiptEvent {
    const after = this.minimums();
    const to = receiptAudience(user, before, this.lastSentBy, this.isMember, minsBefore, after);
    return { t: "receipt", origin: this.ctx.config.server.nodeId, conv: this.record.id, user, dev, delivered: m.delivered, read: m.read, to, deliveredMin: after.delivered, readMin: after.read };
  }

  private minimums(): Minimums {
    return { delivered: this.lowestTwo("delivered"), read: this.lowestTwo("read") };
  }

  /** The lowest marker, its holder and the second lowest: enough for every "all but me" aggregate. */
  private lowestTwo(field: "delivered" | "read"): LowestTwo {
    return this.lowest[field].lowestTwo(this.lastSeq);
  }

  /**
   * Receipts moved through two nodes at once are each announced with "all but me" aggregates that
   * miss the other's marker, and no later receipt may come to set them right. A node that hears
   * such a receipt while knowing higher minimums announces it again, with what it knows, to the
   * same users and to every sender whose aggregates that raises: a race can leave a sender's
   * aggregate moved by neither announcement as each node saw it. Each announcement raises a
   * minimum, so this ends (at once when nothing raced).
   */
  private correctAggregates(e: ReceiptEvent): void {
    const deliveredMin = dominant(this.lowestTwo("delivered"), e.deliveredMin);
    const readMin = dominant(this.lowestTwo("read"), e.readMin);
    if (deliveredMin === e.deliveredMin && readMin === e.readMin) return;
    const to = correctionAudience(e.to, this.lastSentBy.keys(), this.isMember, { delivered: e.deliveredMin, read: e.readMin }, { delivered: deliveredMin, read: readMin });
    this.ctx.bus.publish(this.subject, { ...e, origin: this.ctx.config.server.nodeId, to, deliveredMin, readMin });
  }

  /** Keeps the ordered markers in step with a member's (new, or moved) markers. */
  private markersMoved(user: string, m: MemberState): void {
    this.lowest.delivered.set(user, m.delivered);
    this.lowest.read.set(user, m.read);
  }

  /**
   * Relays a typing state. Clients repeat "typing" every few seconds while the user types; a
   * repeat of the state last relayed for that device within TYPING_REPEAT_MS is not relayed again,
   * so members get a push per change, not per frame.
   */
  typing(user: string, dev: string, on: boolean, now: number): void {
    if (!this.members.has(user)) throw notMember();
    const key = user + "\u0000" + dev;
    const last = this.typingRelayed.get(key);
    if (last && last.on === on && now - last.at < TYPING_REPEAT_MS) return;
    if (on) this.typingRelayed.set(key, { on, at: now });
    else if (last) this.typingRelayed.delete(key);
    else return; // "stopped" from a device that was never relayed as typing: nothing to undo
    // On each member's user subject, not the conversation's: every node with a device of a member
    // hears that subject from the moment the device connected, while it subscribes to a new
    // conversation only once it hears of it. So typing right after DIRECT_OPEN or GROUP_CREATE
    // reaches members on every node, as messages do (those are filled in from the store).
    const event = { t: "typing", conv: this.record.id, user, dev, on } as const;
    for (const member of this.members.keys()) this.ctx.bus.publish(subjects.user(member), event);
  }

  // ---- membership -----------------------------------------------------------------------

  private requireGroup(): void {
    if (this.record.type !== ConvType.Group) throw new CommandError(ErrorCode.InvalidParams, "not a group conversation");
  }

  private requireAdmin(user: string): void {
    const m = this.members.get(user);
    if (!m) throw notMember();
    if (!m.admin) throw new CommandError(ErrorCode.Forbidden, "only group admins may do this");
  }

  /** Records the system message of a new group (seq 1) and tells every member. */
  announceCreated(by: string): Promise<number> {
    return this.call(async () => {
      const users = [...this.members.keys()];
      const seq = await this.appendSystem({ op: SystemOp.Created, by, users, title: this.record.title });
      await this.publishChange(users, []);
      return seq;
    });
  }

  /** Records that the thumbnail of the media carried by message `ref` is ready. */
  announceThumbnail(owner: string, media: string, thumb: string, ref: number): Promise<number> {
    return this.call(() => this.appendSystem({ op: SystemOp.ThumbnailReady, by: owner, media, thumb, ref }));
  }

  /** Tells both users of a new direct conversation, so their nodes start routing it. */
  announceDirect(): Promise<void> {
    return this.call(() => this.publishChange([...this.members.keys()], []));
  }

  rename(by: string, title: string): Promise<number> {
    return this.call(async () => {
      this.requireGroup();
      this.requireAdmin(by);
      await this.quiesce();
      await this.ctx.metadata.renameConversation(this.record.id, title);
      this.record = { ...this.record, title };
      return this.recordChange({ op: SystemOp.Renamed, by, title }, [], []);
    });
  }

  /** `join`: `by` joins by their own choice (an accepted invitation, a link): no admin needed. */
  add(by: string, users: string[], { join = false } = {}): Promise<number> {
    return this.call(async () => {
      this.requireGroup();
      if (!join) this.requireAdmin(by);
      const candidates = [...new Set(users)].filter((u) => !this.members.has(u));
      if (candidates.length === 0) throw new CommandError(ErrorCode.Conflict, "every user is already a member");
      await this.quiesce();
      // New members start at the system message recording their addition. Another node may be
      // appending too, so this is where that message will land at the earliest.
      const joinedSeq = Math.max(this.lastSeq, await this.ctx.messages.lastSeq(this.record.id)) + 1;
      const added = await this.membership(() =>
        this.ctx.metadata.addMembers(
          this.record.id,
          candidates.map((user) => ({ user, admin: false, joinedSeq, delivered: 0, read: 0 })),
          this.ctx.config.limits.maxGroupSize,
        ),
      );
      if (added.length === 0) throw new CommandError(ErrorCode.Conflict, "every user is already a member");
      for (const user of added) {
        const m = { admin: false, joinedSeq, delivered: 0, read: 0 };
        this.members.set(user, m);
        this.markersMoved(user, m);
      }
      return this.recordChange(join ? { op: SystemOp.Joined, by } : { op: SystemOp.MembersAdded, by, users: added }, added, []);
    });
  }

  /** Runs a store membership change, turning its refusals into protocol errors. */
  private async membership<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (e) {
      if (!(e instanceof MembershipError)) throw e;
      const code = e.reason === "group-full" ? ErrorCode.GroupFull : e.reason === "last-admin" ? ErrorCode.Conflict : ErrorCode.NotFound;
      throw new CommandError(code, e.message);
    }
  }

  /**
   * `moderator`: the service's moderators remove the member (`by` is empty): no admin needed, and
   * a group whose only admin is removed gets its longest-standing member as admin.
   */
  remove(by: string, user: string, { moderator = false } = {}): Promise<number> {
    return this.call(async () => {
      this.requireGroup();
      if (by !== user && !moderator) this.requireAdmin(by);
      if (!this.members.has(user)) throw new CommandError(ErrorCode.NotFound, "not a member");
      await this.quiesce();
      if (moderator) await this.keepAnAdmin(user);
      await this.membership(() => this.ctx.metadata.removeMember(this.record.id, user));
      this.members.delete(user);
      this.lowest.delivered.delete(user);
      this.lowest.read.delete(user);
      this.lastSentBy.delete(user);
      const op = by === user ? SystemOp.MemberLeft : SystemOp.MemberRemoved;
      return this.recordChange({ op, by, users: [user] }, [], [user]);
    });
  }

  /** Before `leaving` goes: if they are the only admin, the member who joined first becomes one. */
  private async keepAnAdmin(leaving: string): Promise<void> {
    if (!this.members.get(leaving)?.admin || [...this.members].some(([u, m]) => m.admin && u !== leaving)) return;
    const next = [...this.members].filter(([u]) => u !== leaving).sort(([, a], [, b]) => a.joinedSeq - b.joinedSeq)[0];
    if (!next) return;
    await this.membership(() => this.ctx.metadata.setAdmin(this.record.id, next[0], true));
    next[1].admin = true;
    await this.recordChange({ op: SystemOp.AdminGranted, by: "", users: [next[0]] }, [], []);
  }

  /** Records that message `ref` was removed (MessageRemoved; `by` empty: by the service's moderators): devices drop their copy. */
  announceRemoval(ref: number, by = ""): Promise<number> {
    return this.call(() => this.appendSystem({ op: SystemOp.MessageRemoved, by, ref }));
  }

  /**
   * Sets the disappearing-message timer: any member of a direct conversation, a group's admins.
   * Messages accepted from then on expire `seconds` after they were accepted (0: never).
   */
  setTimer(by: string, seconds: number): Promise<number> {
    return this.call(async () => {
      if (this.record.type === ConvType.Group) this.requireAdmin(by);
      else if (!this.members.has(by)) throw notMember();
      if ((this.record.timer ?? 0) === seconds) throw new CommandError(ErrorCode.Conflict, seconds ? `the timer already is ${seconds} s` : "the timer is already off");
      await this.quiesce();
      await this.ctx.metadata.setConversationTimer(this.record.id, seconds);
      const { timer: _old, ...rest } = this.record;
      this.record = seconds > 0 ? { ...rest, timer: seconds } : rest;
      return this.recordChange({ op: SystemOp.TimerChanged, by, timer: seconds }, [], []);
    });
  }

  setAdmin(by: string, user: string, admin: boolean): Promise<number> {
    return this.call(async () => {
      this.requireGroup();
      this.requireAdmin(by);
      const target = this.members.get(user);
      if (!target) throw new CommandError(ErrorCode.NotFound, "not a member");
      if (target.admin === admin) throw new CommandError(ErrorCode.Conflict, admin ? "already an admin" : "not an admin");
      await this.quiesce();
      await this.membership(() => this.ctx.metadata.setAdmin(this.record.id, user, admin));
      target.admin = admin;
      return this.recordChange({ op: admin ? SystemOp.AdminGranted : SystemOp.AdminRevoked, by, users: [user] }, [], []);
    });
  }

  /**
   * Records a change the metadata store already holds: the system message, then the
   * announcement. The announcement goes out even if the message cannot be written, so no node
   * keeps serving the old membership.
   */
  private async recordChange(event: SystemEvent, added: string[], removed: string[]): Promise<number> {
    try {
      return await this.appendSystem(event);
    } finally {
      await this.publishChange(added, removed);
    }
  }

  /**
   * Tells the conversation's nodes, and the added or removed users wherever they are; resolves
   * once the bus has handed the news to every node (Bus.ready), so that the command is answered
   * only after that: another node's actor for this conversation knows the new membership before
   * the client that changed it hears back.
   */
  private publishChange(added: string[], removed: string[]): Promise<void> {
    const event: ConversationEvent = { t: "conv", origin: this.ctx.config.server.nodeId, info: this.info(), added, removed };
    this.ctx.bus.publish(this.subject, event);
    for (const u of [...added, ...removed]) this.ctx.bus.publish(subjects.user(u), event);
    return this.ctx.bus.ready();
  }
}

/** `mine` when it is at least `theirs` in both minimums and above in one; else `theirs`. */
function dominant(mine: LowestTwo, theirs: LowestTwo): LowestTwo {
  const atLeast = mine[0] >= theirs[0] && mine[2] >= theirs[2];
  return atLeast && (mine[0] > theirs[0] || mine[2] > theirs[2]) ? mine : theirs;
}
