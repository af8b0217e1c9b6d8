// A node: the actors of one edge process and the indexes that connect them to the bus.
// - user actors, created when a user's first device connects here and dropped with its last;
// - conversation actors, loaded on first use and dropped after an idle period;
// - the local conversation index: which local users belong to a conversation, so this node
//   subscribes to a conversation's subject once, however many of its members are connected;
// - presence watches: which local devices watch which users.

import { ThrottledLog } from "../throttled-log.ts";
import { DisconnectCode, PushKind } from "../proto/codes.ts";
import type { BusListener } from "../bus/bus.ts";
import type { NodeContext } from "./context.ts";
import { AccessWatch, type AccessHost } from "./access-watch.ts";
import { ConversationActor, type ConversationHost } from "./conversation-actor.ts";
import { DeviceSession, type SessionShared } from "./device-session.ts";
import { subjects } from "../bus/subjects.ts";
import type { Broadcaster, Transport } from "./transport.ts";
import { ConversationFanout, type FanoutHost } from "./conversation-fanout.ts";
import { UserActor, type UserActorHost } from "./user-actor.ts";

export interface SessionClaims {
  user: string;
  device: string;
  expiresAt: number;
}

export class Node implements UserActorHost, ConversationHost, AccessHost, FanoutHost {
  /** The user actors of this node, by user id. */
  private readonly users = new Map<string, UserActor>();
  private readonly convs = new Map<string, ConversationActor>();
  private readonly loading = new Map<string, Promise<ConversationActor | null>>();
  private readonly convIndex = new Map<string, ConversationFanout>();
  /** FanoutHost: the edge's native fan-out, once an edge serves this node. */
  broadcaster: Broadcaster | null = null;
  private readonly watched = new Map<string, { sessions: Set<DeviceSession> } & BusListener>();
  /** Connections open on this node: its users' sessions, counted (the connections gauge). */
  private open = 0;
  /** Commands being handled; a drain waits for them (commandStarted / commandSettled). */
  private inflight = 0;
  private commandWaiters: (() => void)[] = [];
  draining = false;
  /** Faults contained at the frame boundary are logged through this, at a bounded rate. */
  readonly faultLog: ThrottledLog;
  /** What every connection's session shares (metrics, the command budget from config limits). */
  private readonly sessionShared: SessionShared;

  /** Revocations and bans heard from every node. */
  private readonly access: AccessWatch;

  constructor(readonly ctx: NodeContext) {
    this.faultLog = new ThrottledLog(ctx.log, ctx.clock);
    this.access = new AccessWatch(ctx, this);
    const { limits } = ctx.config;
    this.sessionShared = { metrics: ctx.metrics, commandRate: { perSecond: limits.commandsPerSecond, burst: limits.commandsBurst } };
    ctx.metrics.census = { connections: () => this.open, userActors: () => this.users.size, conversationActors: () => this.convs.size };
  }

  get sessionCount(): number {
    return this.open;
  }

  /** Every connection open on this node, as of the call (a copy: callers close some as they go). */
  sessions(): DeviceSession[] {
    const all: DeviceSession[] = [];
    for (const a of this.users.values()) all.push(...a.sessions);
    return all;
  }

  userActor(user: string): UserActor | undefined {
    return this.users.get(user);
  }

  /** Called by the edge that serves this node's connections. */
  useBroadcaster(b: Broadcaster): void {
    this.broadcaster = b;
  }

  /** FanoutHost: the local connection of a user's device. */
  sessionOf(user: string, device: string): DeviceSession | undefined {
    return this.users.get(user)?.session(device);
  }

  /** AccessHost: this node's connections of one user (the user actor's list, replaced on change). */
  sessionsOf(user: string): readonly DeviceSession[] {
    return this.users.get(user)?.sessions ?? [];
  }


  // ---- sessions ---------------------------------------------------------------------------

  openSession(transport: Transport, claims: SessionClaims): DeviceSession {
    const now = this.ctx.clock.now();
    const s = new DeviceSession(claims.user, claims.device, claims.expiresAt, transport, this.sessionShared, now);
    this.open++;
    let actor = this.users.get(claims.user);
    if (!actor) {
      const a = (actor = new UserActor(claims.user, this.ctx, this));
      a.enqueue(() => a.activate());
      this.ctx.bus.subscribe(subjects.user(claims.user), a);
      this.users.set(claims.user, a);
    }
    // One connection per device: a newer one replaces the older. Register the new one first:
    // closing the old socket runs closeSession(old) at once, which must not see the device gone.
    const older = actor.session(claims.device);
    actor.addSession(s);
    older?.close(DisconnectCode.Replaced, "replaced by a newer connection of this device");
    // And on the other nodes: an older connection of this device there goes too.
    if (this.ctx.bus.distributed) this.ctx.bus.publish(subjects.user(claims.user), { t: "device", device: claims.device, session: s.id, at: now });
    void this.presenceChanged(claims.user, claims.device, true, now);
    // A revocation or ban that committed after the upgrade's store check went by on the bus
    // before this socket opened: the access watch remembers it.
    const refused = this.access.refusal(s);
    if (refused !== null) {
      s.close(refused, refused === DisconnectCode.UserBanned ? "user banned" : "device revoked");
      // Its socket closed before the edge was handed the session, so the edge's close handler
      // could not report it: the node forgets it here.
      this.closeSession(s);
    }
    return s;
  }

  /**
   * A connection closed: reported by the edge when its socket closes, and by openSession for one
   * closed at open (whose socket may close before the edge holds the session). Only the first
   * report counts, whoever makes it.
   */
  closeSession(s: DeviceSession): void {
    if (s.forgotten) return;
    s.forgotten = true;
    this.leaveTopics(s);
    this.open--;
    this.watch(s, []);
    this.ctx.safety.presence.drop(s);
    const actor = this.users.get(s.user);
    if (!actor?.removeSession(s)) return;
    void this.presenceChanged(s.user, s.device, false, this.ctx.clock.now());
    if (actor.sessions.length === 0) {
      this.users.delete(s.user);
      this.ctx.bus.unsubscribe(subjects.user(s.user), actor);
      actor.enqueue(() => actor.passivate());
    }
  }

  private async presenceChanged(user: string, device: string, online: boolean, now: number): Promise<void> {
    const p = this.ctx.presence;
    const node = this.ctx.config.server.nodeId;
    try {
      const changed = online ? await p.deviceOnline(user, device, node, now) : await p.deviceOffline(user, device, node, now);
      if (changed) this.ctx.bus.publish(subjects.presence(user), { t: "presence", info: { user, online, lastSeen: online ? 0 : now } });
    } catch (err) {
      this.ctx.log.warn({ err, user }, "presence update failed");
    }
  }

  /** Replaces the set of users a device watches; returns nothing, updates arrive as pushes. */
  watch(s: DeviceSession, users: string[]): void {
    if (users.length === 0 && s.watching.size === 0) return;
    const next = new Set(users);
    for (const u of s.watching) {
      if (next.has(u)) continue;
      const w = this.watched.get(u);
      if (!w) continue;
      w.sessions.delete(s);
      if (w.sessions.size === 0) {
        this.ctx.bus.unsubscribe(subjects.presence(u), w);
        this.watched.delete(u);
      }
    }
    for (const u of next) {
      if (s.watching.has(u)) continue;
      let w = this.watched.get(u);
      if (!w) {
        const sessions = new Set<DeviceSession>();
        w = {
          sessions,
          onEvent: (e) => {
            if (e.t !== "presence") return;
            for (const x of sessions) {
              // Each device hears only what the user's privacy settings and blocks let it see.
              const p = x.connected && this.ctx.safety.presence.view(x, e.info);
              if (p) x.push(PushKind.Presence, p);
            }
          },
        };
        this.ctx.bus.subscribe(subjects.presence(u), w);
        this.watched.set(u, w);
      }
      w.sessions.add(s);
    }
    s.watching = next;
  }

  // ---- conversations ------------------------------------------------------------------------

  /** The conversation's actor when it is in memory (the hot path skips the promise). */
  loadedConversation(id: string): ConversationActor | undefined {
    return this.convs.get(id);
  }

  /** ConversationHost: a user with a device on this node is online. */
  hasLocalDevices(user: string): boolean {
    return this.users.has(user);
  }

  /** ConversationHost: members of `conv` with a device on this node (as their user actors know it). */
  localMembers(conv: string): number {
    return this.convIndex.get(conv)?.members.size ?? 0;
  }

  /** The conversation's actor, loaded on first use; null when it does not exist. */
  conversation(id: string): Promise<ConversationActor | null> {
    const a = this.convs.get(id);
    if (a) return Promise.resolve(a);
    let p = this.loading.get(id);
    if (!p) {
      p = ConversationActor.load(this.ctx, this, id).then((actor) => {
        this.loading.delete(id);
        if (actor) this.convs.set(id, actor);
        return actor;
      });
      this.loading.set(id, p);
    }
    return p;
  }

  registerConversation(conv: string, actor: UserActor): void {
    let f = this.convIndex.get(conv);
    if (!f) {
      f = new ConversationFanout(conv, this, this.ctx.metrics);
      this.ctx.bus.subscribe(subjects.conversation(conv), f);
      this.convIndex.set(conv, f);
    }
    f.members.set(actor.user, actor);
  }

  unregisterConversation(conv: string, actor: UserActor): void {
    const f = this.convIndex.get(conv);
    if (!f) return;
    if (f.members.get(actor.user) === actor) {
      f.removed([actor.user]);
      f.members.delete(actor.user);
    }
    if (f.members.size === 0) {
      this.ctx.bus.unsubscribe(subjects.conversation(conv), f);
      this.convIndex.delete(conv);
    }
  }

  /** UserActorHost: `s` has been sent `seq` of `conv` in order; it may now get the rest by the topic. */
  joinTopic(s: DeviceSession, conv: string, seq: number): boolean {
    return this.convIndex.get(conv)?.join(s, seq) ?? false;
  }

  /** UserActorHost: `s` goes back to per-device delivery in every conversation. */
  leaveTopics(s: DeviceSession): void {
    if (!s.live) return;
    for (const conv of [...s.live]) this.convIndex.get(conv)?.leave(s);
  }

  /** Disconnects a device on every node and refuses it from now on. */
  async revokeDevice(user: string, device: string): Promise<boolean> {
    const known = await this.ctx.metadata.revokeDevice(user, device, Date.now());
    this.ctx.bus.publish(subjects.access, { t: "revoke", user, device });
    // Answered once every node has heard: the device is refused everywhere by then.
    await this.ctx.bus.ready();
    // Its MLS groups must drop it before anyone writes in them again (src/e2ee).
    if (known) await this.ctx.e2ee.deviceRevoked(user, device);
    return known;
  }

  // ---- housekeeping -----------------------------------------------------------------------

  /**
   * Closes dead, expired and silent connections, drops idle conversation actors, and sheds what
   * idle users and connections no longer need (full rate buckets, passed error windows).
   */
  sweep(now: number): void {
    const { heartbeat } = this.ctx.config;
    // Closing a session replaces its user's list (and may drop the user): each loop goes on over
    // what it started with.
    for (const a of this.users.values()) {
      a.shed(now);
      for (const s of a.sessions) {
        if (!s.connected && now - s.openedAt > heartbeat.connectTimeoutMs) s.close(DisconnectCode.ConnectTimeout, "no CONNECT in time");
        else if (now - s.lastFrameAt > heartbeat.timeoutMs) s.close(DisconnectCode.HeartbeatTimeout, "no heartbeat");
        else if (now >= s.expiresAt) s.close(DisconnectCode.TokenExpired, "access token expired");
        else s.shed(now);
      }
    }
    for (const [id, a] of this.convs) {
      if (a.idle && now - a.lastUsed > this.ctx.config.actors.conversationIdleMs) {
        this.convs.delete(id);
        a.close();
      }
    }
  }

  /**
   * After the bus recovered from an outage: every local device catches up from the store, and
   * every local conversation re-announces its latest commit so the other nodes' devices catch
   * up on what this node published while it was cut off.
   */
  recoverFromBusOutage(): void {
    // What the topics' devices missed is only known per device.
    for (const f of this.convIndex.values()) f.dropAll();
    for (const actor of this.users.values()) actor.enqueue(() => actor.catchUp());
    for (const conv of this.convs.values()) conv.republishLatest();
  }

  commandStarted(): void {
    this.inflight++;
  }

  commandSettled(): void {
    if (--this.inflight > 0) return;
    const w = this.commandWaiters;
    this.commandWaiters = [];
    for (const f of w) f();
  }

  /**
   * Resolves when no command is in flight and every conversation actor has nothing queued and no
   * append outstanding, or after `timeoutMs`. Signalled, not polled: a settled command or actor
   * wakes the wait, which then looks again (a command may have queued more work as it ended).
   */
  async quiesce(timeoutMs: number): Promise<void> {
    let expired = false;
    let cancel = () => {};
    const timeout = new Promise<void>((r) => (cancel = this.ctx.clock.after(timeoutMs, () => ((expired = true), r()))));
    const settle = async () => {
      while (!expired) {
        if (this.inflight > 0) await new Promise<void>((r) => this.commandWaiters.push(r));
        const busy = [...this.convs.values()].filter((a) => !a.idle);
        if (busy.length === 0 && this.inflight === 0) return;
        await Promise.all(busy.map((a) => a.settled()));
      }
    };
    await Promise.race([settle(), timeout]);
    cancel();
  }

}
