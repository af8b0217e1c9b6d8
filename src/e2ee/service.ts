// The MLS delivery service of one node (RFC 9420, RFC 9750 §5): KeyPackages, commits ordered by
// the conversation's seq with one accepted per epoch, Welcomes in the same durable path as
// messages, and the checks every encrypted SEND passes. The server never holds a group secret:
// it reads the clear-text parts of MLS messages (group, epoch, content type; who a commit adds
// and removes) and relays the rest.
//
// Hot path: a SEND to a loaded conversation is screened from cached facts (group id, epoch, which
// devices hold leaves, whether one is revoked) with no promise; unknown facts send it down the slow
// path, which loads them. Cluster: the node that accepts a commit, or revokes a device, updates its
// own cache and publishes an "e2ee" event on the e2ee subject; every other node drops its copy.
// A node that has not heard yet screens against the epoch before: a message of the new epoch looks
// "ahead" and goes down the slow path to the store; an old one is judged against a window one
// commit wider, at most, for the few milliseconds the event takes.

import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Bus, BusListener, Unsubscribe } from "../bus/bus.ts";
import { subjects } from "../bus/subjects.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/config.ts";
import { ErrorCode, MessageKind, PushKind } from "../proto/codes.ts";
import { pack } from "../proto/codec.ts";
import { CommandError } from "../proto/command-error.ts";
import { ContentType, equalBytes, readPrivateMessage } from "../proto/mls.ts";
import type {
  ConvInfo,
  DeviceRef,
  KeyPackageClaimResult,
  KeyPackageCount,
  MlsCommitParams,
  MlsCommitResult,
  MlsGroupInfo,
  MlsHandshake,
  SendResult,
} from "../proto/types.ts";
import { KeyPackageLimitError, type E2eeStore, type MlsGroupRecord, type NewKeyPackage } from "../storage/e2ee-types.ts";
import { checkWelcome, invalid, readCommit, readKeyPackage } from "./mls-objects.ts";
import { applyCommit, deviceKey, leafOf, missingDevices, revokedSet, staleLeaves, type Leaves } from "./roster.ts";
import { BoundedMap } from "../bounded-map.ts";

/** What the service needs of a conversation: the conversation actor provides it. */
export interface Conversation {
  readonly id: string;
  isMember(user: string): boolean;
  info(): ConvInfo;
  send(from: string, dev: string, cid: string, kind: number, body: Uint8Array, acceptedAt: number, opts?: { media?: string; resend?: boolean }): Promise<SendResult>;
}

/** Conversations whose group facts one node keeps; the oldest loaded go first. */
const MAX_CACHED = 100_000;
/** Application messages per conversation whose sender data is remembered, to refuse replays. */
const RECENT_MESSAGES = 2048;
/** How often expired KeyPackages are deleted. */
const PRUNE_INTERVAL_MS = 3_600_000;

/** What the hot path knows about a conversation's group. */
interface Facts {
  groupId: Uint8Array;
  epoch: number;
  /** deviceKey of each leaf's device. */
  devices: Set<string>;
  /** The users holding leaves (each must still be a member). */
  users: string[];
  /** A leaf's device has been revoked. */
  revoked: boolean;
  /** Sender data of recent application messages -> the device and client id that sent it. */
  recent: BoundedMap<string, string>;
}

export interface E2eeDeps {
  store: E2eeStore;
  bus: Bus;
  config: Config;
  clock: Clock;
  log: Logger;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const same = (a: DeviceRef, b: DeviceRef) => a.user === b.user && a.device === b.device;
/** The sender data as a map key: 28 bytes, one char each (a native conversion: several times cheaper than fromCharCode.apply on every SEND). */
const senderKey = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

export class E2ee {
  readonly store: E2eeStore;
  /** Conversation id -> its group's facts, or null: not end-to-end encrypted. */
  private readonly cache = new BoundedMap<string, Facts | null>(MAX_CACHED);
  private readonly loading = new Map<string, Promise<Facts | null>>();
  private readonly listener: BusListener;
  private readonly offRecovered: Unsubscribe;
  private readonly pruner: ReturnType<typeof setInterval>;

  constructor(private readonly deps: E2eeDeps) {
    this.store = deps.store;
    const node = deps.config.server.nodeId;
    this.listener = {
      onEvent: (e) => {
        if (e.t === "e2ee" && e.origin !== node) this.forget(e.conv);
      },
    };
    deps.bus.subscribe(subjects.e2ee, this.listener);
    // Events lost in an outage would leave facts stale: drop them all.
    this.offRecovered = deps.bus.onRecovered(() => this.cache.clear());
    this.pruner = setInterval(() => {
      this.store.pruneKeyPackages(deps.clock.now()).catch((err: unknown) => deps.log.warn({ err }, "pruning expired KeyPackages failed"));
    }, PRUNE_INTERVAL_MS);
    this.pruner.unref?.();
  }

  close(): void {
    this.deps.bus.unsubscribe(subjects.e2ee, this.listener);
    this.offRecovered();
    clearInterval(this.pruner);
  }

  private forget(conv: string): void {
    this.cache.delete(conv);
  }

  private remember(conv: string, f: Facts | null): void {
    this.cache.set(conv, f);
  }

  /** Tells the other nodes that `conv`'s group changed. */
  private announce(conv: string): void {
    this.deps.bus.publish(subjects.e2ee, { t: "e2ee", origin: this.deps.config.server.nodeId, conv });
  }

  // ---- SEND -------------------------------------------------------------------------------

  /**
   * Screens a SEND to a loaded conversation from memory. True: accept it now. False: the facts are
   * not known (or the message is from an epoch this node has not heard of): use admit(). Throws
   * the refusal otherwise.
   */
  screen(a: Conversation, user: string, device: string, kind: number, body: Uint8Array, cid: string): boolean {
    if (kind === MessageKind.MlsCommit) throw new CommandError(ErrorCode.InvalidParams, "kind: MLS commits are sent with MLS_COMMIT");
    const f = this.cache.get(a.id);
    if (f === undefined) return false;
    if (f === null) {
      if (kind === MessageKind.Mls) throw invalid("kind: the conversation is not end-to-end encrypted (it has no MLS group)");
      return true;
    }
    return this.check(f, a, user, device, kind, body, cid, false);
  }

  /** The slow path's screening: loads the facts, then decides. */
  async admit(a: Conversation, user: string, device: string, kind: number, body: Uint8Array, cid: string): Promise<void> {
    if (this.screen(a, user, device, kind, body, cid)) return;
    const f = await this.facts(a, true);
    if (f === null) {
      if (kind === MessageKind.Mls) throw invalid("kind: the conversation is not end-to-end encrypted (it has no MLS group)");
      return;
    }
    this.check(f, a, user, device, kind, body, cid, true);
  }

  private check(f: Facts, a: Conversation, user: string, device: string, kind: number, body: Uint8Array, cid: string, fresh: boolean): boolean {
    if (kind !== MessageKind.Mls) throw new CommandError(ErrorCode.EncryptionRequired, "the conversation is end-to-end encrypted: send MLS application messages (kind Mls)");
    const h = readPrivateMessage(body);
    if (!h) throw invalid("body: not an MLS PrivateMessage of msgr's ciphersuite");
    if (!equalBytes(h.groupId, f.groupId)) throw invalid("body: a message of another MLS group");
    if (h.contentType !== ContentType.Application) throw invalid("body: only application messages are sent with SEND; commits go with MLS_COMMIT");
    if (h.epoch > f.epoch) {
      if (!fresh) return false;
      throw invalid(`body: epoch ${h.epoch} is ahead of the group's (${f.epoch})`);
    }
    if (f.epoch - h.epoch > this.deps.config.e2ee.epochWindow) throw new CommandError(ErrorCode.EpochStale, `body: epoch ${h.epoch} is too old (the group is at ${f.epoch}); catch up and encrypt again`);
    const me = `${user}/${device}`;
    if (!f.devices.has(me)) throw new CommandError(ErrorCode.Forbidden, "this device is not in the conversation's MLS group");
    // Removed members and revoked devices must be out of the group before anyone writes again.
    if (f.revoked || f.users.some((u) => !a.isMember(u))) throw new CommandError(ErrorCode.CommitRequired, "the MLS group holds devices that must be removed first (MLS_GROUP lists them)");
    const key = senderKey(h.senderData);
    const from = me + "\u0000" + cid;
    const seen = f.recent.get(key);
    // The same bytes again under the same client id are a resend, which the message store answers.
    if (seen !== undefined && seen !== from) throw invalid("body: replayed (this message was sent before)");
    if (seen === undefined) f.recent.set(key, from);
    return true;
  }

  /** The conversation's facts, from the cache or the store (`reload`: from the store). */
  private async facts(a: Conversation, reload = false): Promise<Facts | null> {
    if (!reload) {
      const hit = this.cache.get(a.id);
      if (hit !== undefined) return hit;
    }
    let p = this.loading.get(a.id);
    if (!p) {
      p = this.load(a).finally(() => this.loading.delete(a.id));
      this.loading.set(a.id, p);
    }
    return p;
  }

  private async load(a: Conversation): Promise<Facts | null> {
    const g = await this.store.getGroup(a.id);
    if (g?.pending) await this.repair(a, g);
    const facts = g ? await this.factsOf(g.groupId, g.epoch, g.leaves, this.cache.get(a.id)?.recent) : null;
    this.remember(a.id, facts);
    return facts;
  }

  private async factsOf(groupId: Uint8Array, epoch: number, leaves: Leaves, recent = new BoundedMap<string, string>(RECENT_MESSAGES)): Promise<Facts> {
    const held = leaves.filter((l): l is DeviceRef => l !== null);
    const users = [...new Set(held.map((l) => l.user))];
    const revoked = revokedSet(await this.store.deviceStates(users, this.deps.clock.now()));
    return { groupId, epoch, devices: new Set(held.map(deviceKey)), users, revoked: held.some((l) => revoked.has(deviceKey(l))), recent };
  }

  /**
   * Stores the MlsCommit message of an epoch whose commit was accepted but whose message never
   * made it to the message store (the node failed between the two). Idempotent: the message
   * store recognises the client id if another node did it first.
   */
  private async repair(a: Conversation, g: MlsGroupRecord): Promise<number> {
    const p = g.pending!;
    try {
      const ack = await a.send(p.from, p.dev, p.cid, MessageKind.MlsCommit, p.body, this.deps.clock.now(), p.media ? { media: p.media, resend: true } : { resend: true });
      await this.store.committed(a.id, g.epoch, ack.seq);
      return ack.seq;
    } catch (err) {
      this.deps.log.error({ err, conv: a.id, epoch: g.epoch }, "storing an accepted MLS commit failed; the next use of the conversation retries");
      throw new CommandError(ErrorCode.Unavailable, "the group's last commit is not stored yet; retry");
    }
  }

  // ---- KeyPackages --------------------------------------------------------------------------

  async uploadKeyPackages(user: string, device: string, packages: Uint8Array[], lastResort: Uint8Array | undefined): Promise<KeyPackageCount> {
    const now = this.deps.clock.now();
    const check = async (bytes: Uint8Array, what: string): Promise<NewKeyPackage> => {
      const kp = await readKeyPackage(bytes, now, what);
      if (!same(kp.owner, { user, device })) throw invalid(`${what}: its credential names ${deviceKey(kp.owner)}, not the uploading device`);
      return { ref: sha256(bytes), body: bytes.slice(), expiresAt: kp.expiresAt };
    };
    const fresh: NewKeyPackage[] = [];
    for (const [i, b] of packages.entries()) fresh.push(await check(b, `packages[${i}]`));
    const last = lastResort ? await check(lastResort, "lastResort") : null;
    let stock;
    try {
      stock = await this.store.addKeyPackages(user, device, fresh, last, this.deps.config.e2ee.maxKeyPackagesPerDevice, now);
    } catch (e) {
      if (e instanceof KeyPackageLimitError) throw new CommandError(ErrorCode.Conflict, e.message);
      throw e;
    }
    const count: KeyPackageCount = { device, ...stock };
    // Its other devices learn that this one can be added to their groups.
    this.notify(user, count);
    return count;
  }

  async countKeyPackages(user: string, device: string): Promise<KeyPackageCount> {
    return { device, ...(await this.store.keyPackageStock(user, device, this.deps.clock.now())) };
  }

  private notify(user: string, count: KeyPackageCount): void {
    this.deps.bus.publish(subjects.user(user), { t: "notice", kind: PushKind.KeyPackages, body: count });
  }

  /**
   * Claims one KeyPackage for each device the conversation's group is missing (every member's
   * device holding one, the claimer's own device aside while there is no group yet). Only a
   * device in the group, or any member before the group exists, may claim.
   */
  async claim(a: Conversation, user: string, device: string): Promise<KeyPackageClaimResult> {
    const now = this.deps.clock.now();
    const g = await this.store.getGroup(a.id);
    const leaves = g?.leaves ?? [];
    if (g && leafOf(leaves, { user, device }) < 0) throw new CommandError(ErrorCode.Forbidden, "this device is not in the conversation's MLS group");
    const members = a.info().members.map((m) => m.user);
    const states = await this.store.deviceStates(members, now);
    const missing = missingDevices(leaves, members, states).filter((d) => g || !same(d, { user, device }));
    const claimed = await this.store.claimKeyPackages(missing, now);
    const got = new Set(claimed.map(deviceKey));
    void this.tellLow(claimed.filter((c) => !c.lastResort), now);
    return {
      packages: claimed.map((c) => ({ user: c.user, device: c.device, keyPackage: c.body, lastResort: c.lastResort })),
      none: missing.filter((d) => !got.has(deviceKey(d))),
    };
  }

  /** Tells the owners of devices whose stock fell to the low-water mark, so they upload more. */
  private async tellLow(taken: DeviceRef[], now: number): Promise<void> {
    for (const d of taken) {
      try {
        const s = await this.store.keyPackageStock(d.user, d.device, now);
        if (s.count <= this.deps.config.e2ee.keyPackagesLowWater) this.notify(d.user, { device: d.device, ...s });
      } catch (err) {
        this.deps.log.warn({ err }, "KeyPackage stock lookup failed");
      }
    }
  }

  // ---- commits ------------------------------------------------------------------------------

  /**
   * Accepts a commit for the group's current epoch, first come first served: checks what the
   * server can check, moves the group to the next epoch in the store (exactly one commit per
   * epoch, from any node), then stores the MlsCommit message (the commit, and the Welcome of
   * those it adds) in the conversation, where every member's devices get it in seq order.
   * `treeMedia` has been verified and attached to the conversation by the caller.
   */
  async commit(a: Conversation, user: string, device: string, params: MlsCommitParams, acceptedAt: number): Promise<MlsCommitResult> {
    const now = this.deps.clock.now();
    const me = { user, device };
    const { welcome, tree, treeMedia } = params;
    if (tree && treeMedia) throw new CommandError(ErrorCode.InvalidParams, "tree, treeMedia: give the ratchet tree one way");
    if ((tree || treeMedia) && !welcome) throw new CommandError(ErrorCode.InvalidParams, "tree: only with a welcome");
    const c = await readCommit(params.commit, now);
    if (c.adds.length > 0 && !welcome) throw invalid("welcome: required when the commit adds devices");
    if (welcome) {
      if (c.adds.length === 0) throw invalid("welcome: the commit adds nobody");
      checkWelcome(welcome, c.adds);
      if (!tree && !treeMedia) throw invalid("tree: the Welcome's recipients need the ratchet tree (tree or treeMedia)");
    }
    if (c.pathOwner && !same(c.pathOwner, me)) throw new CommandError(ErrorCode.Forbidden, "commit: its path's leaf names another device");
    const hash = sha256(params.commit);
    const g = await this.store.getGroup(a.id);
    let leaves: Leaves;
    if (!g) {
      if (c.epoch !== 0) throw invalid("commit: the conversation has no MLS group; the first commit is for epoch 0");
      if (c.sender !== 0) throw invalid("commit: the group's founder holds leaf 0");
      leaves = [me];
    } else {
      if (!equalBytes(c.groupId, g.groupId)) {
        // Two devices founded the group at once, and the other's came first: this one joins by Welcome.
        if (c.epoch === 0) throw new CommandError(ErrorCode.EpochStale, "commit: the conversation has an MLS group already (another device founded it first)");
        throw invalid("commit: for another MLS group");
      }
      if (c.epoch !== g.epoch) {
        // The same commit again (its reply was lost): answer as before, storing it if it never was.
        if (c.epoch === g.epoch - 1 && hash === g.commitHash) return { seq: g.commitSeq || (await this.repair(a, g)), epoch: g.epoch };
        throw new CommandError(ErrorCode.EpochStale, `commit: the group is at epoch ${g.epoch}, not ${c.epoch}; process the commits since, then commit again`);
      }
      const sender = g.leaves[c.sender];
      if (!sender || !same(sender, me)) throw new CommandError(ErrorCode.Forbidden, "commit: its sender's leaf is not this device's");
      leaves = g.leaves;
    }
    const added = c.adds.map((x) => x.owner);
    for (const d of added) if (!a.isMember(d.user)) throw new CommandError(ErrorCode.Forbidden, `commit: ${deviceKey(d)} is not a member of the conversation`);
    const users = [...new Set([...leaves.filter((l): l is DeviceRef => l !== null).map((l) => l.user), ...added.map((d) => d.user)])];
    const states = await this.store.deviceStates(users, now);
    const revoked = revokedSet(states);
    const known = new Set(states.map(deviceKey));
    for (const d of added) if (!known.has(deviceKey(d)) || revoked.has(deviceKey(d))) throw new CommandError(ErrorCode.Forbidden, `commit: ${deviceKey(d)} is revoked or unknown`);
    const isMember = (u: string) => a.isMember(u);
    const stale = new Set(staleLeaves(leaves, isMember, revoked));
    for (const r of c.removes) {
      const l = leaves[r];
      if (l && !stale.has(r) && l.user !== user) throw new CommandError(ErrorCode.Forbidden, `commit: leaf ${r} (${deviceKey(l)}) belongs to a member; only leaves of members who left, of revoked devices, or of your own devices may be removed`);
    }
    const next = applyCommit(leaves, c.removes, added);
    if (leafOf(next, me) < 0) throw invalid("commit: a committer cannot remove itself");
    const left = staleLeaves(next, isMember, revoked);
    if (left.length > 0) throw new CommandError(ErrorCode.CommitRequired, `commit: it must also remove leaves ${left.join(", ")} (members who left, revoked devices)`);

    const epoch = c.epoch + 1;
    const cid = `mls:${sha256(c.groupId).slice(0, 16)}:${epoch}`;
    const handshake: MlsHandshake = { commit: params.commit };
    if (welcome) handshake.welcome = welcome;
    if (tree) handshake.tree = tree;
    if (treeMedia) handshake.treeMedia = treeMedia;
    const body = pack(handshake);
    const pending = { from: user, dev: device, cid, body, media: treeMedia ?? null };
    if (!(await this.store.advanceGroup(a.id, g ? g.epoch : null, { groupId: c.groupId, epoch, commitHash: hash, pending, leaves: next }))) {
      this.forget(a.id);
      throw new CommandError(ErrorCode.EpochStale, `commit: another commit for epoch ${c.epoch} was accepted first; process it, then commit again`);
    }
    this.remember(a.id, await this.factsOf(c.groupId, epoch, next, this.cache.get(a.id)?.recent));
    this.announce(a.id);
    const ack = await a.send(user, device, cid, MessageKind.MlsCommit, body, acceptedAt, treeMedia ? { media: treeMedia } : {});
    await this.store.committed(a.id, epoch, ack.seq);
    return { seq: ack.seq, epoch };
  }

  /** The group as the server tracks it, with what the next commit must do. */
  async group(a: Conversation): Promise<MlsGroupInfo> {
    const g = await this.store.getGroup(a.id);
    if (g?.pending) g.commitSeq = await this.repair(a, g);
    const leaves = g?.leaves ?? [];
    const members = a.info().members.map((m) => m.user);
    const users = [...new Set([...members, ...leaves.filter((l): l is DeviceRef => l !== null).map((l) => l.user)])];
    const states = await this.store.deviceStates(users, this.deps.clock.now());
    const out: MlsGroupInfo = {
      epoch: g?.epoch ?? 0,
      commitSeq: g?.commitSeq ?? 0,
      leaves: leaves.flatMap((l, leaf) => (l ? [{ leaf, user: l.user, device: l.device }] : [])),
      stale: staleLeaves(leaves, (u) => a.isMember(u), revokedSet(states)),
      missing: missingDevices(leaves, members, states),
    };
    if (g) out.group = g.groupId;
    return out;
  }

  // ---- devices ------------------------------------------------------------------------------

  /** A device was revoked: every group holding it must remove it before anyone writes there again. */
  async deviceRevoked(user: string, device: string): Promise<void> {
    for (const conv of await this.store.groupsWithDevice(user, device)) {
      this.forget(conv);
      this.announce(conv);
    }
  }
}
