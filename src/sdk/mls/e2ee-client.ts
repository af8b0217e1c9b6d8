// End-to-end encryption for the SDK: a wrapper around a Client that keeps one MLS group (RFC 9420,
// through ts-mls) per encrypted conversation, so that the server only ever relays ciphertext.
//
// What it does for the app:
//  - keeps this device's KeyPackages on the server (a stock, and a last-resort one) so others can
//    add it to their groups;
//  - encrypt(conv) starts a conversation's group with every member's devices;
//  - send() encrypts, and the "message" event carries every message decrypted, in seq order,
//    exactly once (plain conversations pass through unchanged);
//  - processes commits and Welcomes from the conversation's own stream, and keeps each group's
//    devices in step with its members: after membership changes, new devices of anyone's, and
//    revoked devices, some member's device commits the change; a commit refused because another
//    won the epoch is made again on top of the winner (rebase);
//  - checks every sender: the leaf that signed a message must be the device the server names;
//  - encrypts files (AES-GCM, key and digest inside the message) and gives safety numbers;
//  - keeps its state in an MlsStorage, so a restart resumes where it stopped.
//
// Messages of a conversation are handled one at a time in seq order (a queue per conversation):
// MLS state moves only forward, and a message can only be read with the epoch it was sent in.

import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroup,
  processMessage,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Proposal,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { decodeRatchetTree, encodeRatchetTree, getCredentialFromLeafIndex, type RatchetTree } from "ts-mls/ratchetTree.js";
import { toLeafIndex } from "ts-mls/treemath.js";
import { pack, unpack } from "../../proto/codec.ts";
import { ErrorCode, MessageKind, Method, SystemOp } from "../../proto/codes.ts";
import { credentialIdentity, parseIdentity } from "../../proto/mls.ts";
import type * as P from "../../proto/types.ts";
import { Client, ProtocolError, type ClientOptions } from "../client.ts";
import { Emitter } from "../emitter.ts";
import { decryptFile, encryptFile, type EncryptedFile } from "./files.ts";
import { safetyNumber, type DeviceKey } from "./safety-number.ts";
import type { MlsStorage } from "./storage.ts";
import { ciphersuite, clientConfig } from "./suite.ts";

/** A message as the app sees it: decrypted when it was encrypted. */
export interface SecureMessage extends P.WireMessage {
  /** It travelled end-to-end encrypted; `kind` and `body` are what the sender encrypted. */
  encrypted: boolean;
  /** It could not be decrypted, and why (`kind` stays Mls, `body` is empty). */
  undecryptable?: string;
  /** The file it carries (downloadFile() fetches and decrypts it). */
  file?: EncryptedFile;
}

/** A conversation's group changed: its epoch, and the devices added or removed. */
export interface GroupChange {
  conv: string;
  epoch: number;
  added: P.DeviceRef[];
  removed: P.DeviceRef[];
  /** This device joined the group now (a Welcome), or left it (it was removed). */
  joined?: boolean;
  left?: boolean;
}

export interface E2eeEvents extends Record<string, unknown> {
  message: SecureMessage;
  group: GroupChange;
  /** Something a user should know about their security: a sender that does not match, a device added for a non-member, a lost group. */
  alert: { conv: string; message: string };
  /** A failure the app did not ask for (background reconciling, KeyPackage upkeep). */
  error: Error;
}

export interface E2eeOptions {
  storage: MlsStorage;
  /** KeyPackages kept on the server for others to add this device (default 30; topped up at half). */
  keyPackages?: number;
  /**
   * After someone else changed a group's membership, how long this device waits before it
   * commits what the change needs, if no one did (default 2000 ms, ± half, so members do not all
   * race for the same epoch).
   */
  reconcileDelayMs?: number;
  /** Decrypted messages kept per conversation for recent() (default 200). */
  archive?: number;
}

/** What an application message's plaintext holds (MessagePack). */
interface Inner {
  k: number;
  b: Uint8Array;
  f?: EncryptedFile;
}

interface Group {
  state: ClientState;
  /** The highest seq processed. */
  seq: number;
  archive: SecureMessage[];
}

interface StoredKeyPackage {
  pub: Uint8Array;
  init: Uint8Array;
  hpke: Uint8Array;
  lastResort: boolean;
  /** ms */
  expiresAt: number;
}

const KP_LIFETIME_S = 28 * 86_400;
/** A last-resort KeyPackage this close to its expiry is replaced. */
const LAST_RESORT_RENEW_MS = 7 * 86_400_000;
/** Adds per commit: a commit carries each KeyPackage (~330 bytes) and must fit one frame. */
const ADDS_PER_COMMIT = 100;
/** Attempts at a commit (or a send) that another commit overtook. */
const REBASES = 10;
const EPOCH_WAIT_MS = 30_000;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const same = (a: P.DeviceRef, b: P.DeviceRef) => a.user === b.user && a.device === b.device;
const enc = new TextEncoder();

function decodeMessage(bytes: Uint8Array): MLSMessage | null {
  try {
    const out = decodeMlsMessage(bytes, 0);
    return out && out[1] === bytes.length ? out[0] : null;
  } catch {
    return null;
  }
}

/** The devices of a ratchet tree's leaves, by leaf index (null: blank). */
function leavesOf(tree: RatchetTree): (P.DeviceRef | null)[] {
  const out: (P.DeviceRef | null)[] = [];
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    out.push(n?.nodeType === "leaf" && n.leaf.credential.credentialType === "basic" ? parseIdentity(n.leaf.credential.identity) : null);
  }
  return out;
}

function deviceKeys(tree: RatchetTree): DeviceKey[] {
  const out: DeviceKey[] = [];
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    if (n?.nodeType !== "leaf" || n.leaf.credential.credentialType !== "basic") continue;
    const d = parseIdentity(n.leaf.credential.identity);
    if (d) out.push({ ...d, key: n.leaf.signaturePublicKey });
  }
  return out;
}

export class E2eeClient extends Emitter<E2eeEvents> {
  private readonly groups = new Map<string, Group>();
  /** Conversation -> the tail of its queue. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  /** Conversation -> highest seq seen, for plain conversations too (cursors()). */
  private readonly seen = new Map<string, number>();
  /** Plaintext of this device's sends by client id, until their own message comes back. */
  private readonly sent = new Map<string, Inner>();
  private readonly epochWaiters = new Map<string, { epoch: number; resolve: () => void }[]>();
  private readonly reconciling = new Map<string, Promise<void>>();
  private readonly reconcileTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Conversation -> its members, as the server last said (to check whom commits add). */
  private readonly members = new Map<string, Set<string>>();
  private upkeep: Promise<void> | null = null;
  private closed = false;
  private readonly opts: Required<Omit<E2eeOptions, "storage">>;

  private constructor(
    readonly client: Client,
    private readonly storage: MlsStorage,
    private readonly cs: CiphersuiteImpl,
    private readonly signer: { signKey: Uint8Array; publicKey: Uint8Array },
    opts: E2eeOptions,
  ) {
    super();
    this.opts = { keyPackages: opts.keyPackages ?? 30, reconcileDelayMs: opts.reconcileDelayMs ?? 2000, archive: opts.archive ?? 200 };
    client.on("message", (m) => void this.run(m.conv, () => this.process(m)).catch((e: unknown) => this.fail(e)));
    client.on("connected", () => {
      this.upkeep = this.afterConnect().catch((e: unknown) => this.fail(e));
    });
    client.on("keyPackages", (k) => {
      const me = this.client.session;
      if (!me) return;
      if (k.device === me.device && k.count <= this.opts.keyPackages / 2) void this.topUp().catch((e: unknown) => this.fail(e));
      // Another device of this user can be added: put it in every group it is missing from.
      if (k.device !== me.device) for (const conv of this.groups.keys()) this.scheduleReconcile(conv, 0);
    });
    client.on("conversation", (c) => {
      if (c.removed) this.members.delete(c.conv.id);
      else this.members.set(c.conv.id, new Set(c.conv.members.map((m) => m.user)));
    });
    client.on("reset", (r) => {
      if (this.groups.has(r.conv)) this.emit("alert", { conv: r.conv, message: "this device missed part of the conversation; messages of its encrypted group may be unreadable until it is added again" });
    });
  }

  /**
   * A client with end-to-end encryption. Creates the Client itself, resuming from the cursors
   * stored with the groups (pass no `cursors`); call connect() next.
   */
  static async create(options: Omit<ClientOptions, "cursors">, e2ee: E2eeOptions): Promise<E2eeClient> {
    const { storage } = e2ee;
    const cs = await ciphersuite();
    let signer: { signKey: Uint8Array; publicKey: Uint8Array };
    const stored = await storage.get("identity");
    if (stored) signer = unpack(stored) as typeof signer;
    else {
      signer = await cs.signature.keygen();
      await storage.put("identity", pack(signer));
    }
    const cursors = (await storage.get("cursors").then((b) => (b ? (unpack(b) as Record<string, number>) : {}))) ?? {};
    const client = new Client({ ...options, cursors });
    const self = new E2eeClient(client, storage, cs, signer, e2ee);
    for (const [conv, seq] of Object.entries(cursors)) self.seen.set(conv, seq);
    for (const key of await storage.keys("group/")) {
      const conv = key.slice("group/".length);
      const g = await storage.get(key);
      if (g) self.groups.set(conv, self.decodeGroup(g));
    }
    return self;
  }

  connect(): Promise<P.ConnectResult> {
    return this.client.connect();
  }

  close(): void {
    this.closed = true;
    for (const t of this.reconcileTimers.values()) clearTimeout(t);
    this.client.close();
  }

  /** Resolves when the work started by the last (re)connect is done (KeyPackages uploaded, groups brought up to date). */
  async ready(): Promise<void> {
    await this.upkeep;
  }

  /** Whether the conversation is end-to-end encrypted on this device. */
  isEncrypted(conv: string): boolean {
    return this.groups.has(conv);
  }

  /** The conversation's MLS epoch on this device (undefined when not encrypted here). */
  epoch(conv: string): number | undefined {
    const g = this.groups.get(conv);
    return g ? Number(g.state.groupContext.epoch) : undefined;
  }

  /** The devices in the conversation's group, as this device's copy of the group says. */
  devices(conv: string): P.DeviceRef[] {
    const g = this.groups.get(conv);
    return g ? leavesOf(g.state.ratchetTree).filter((d): d is P.DeviceRef => d !== null) : [];
  }

  /** Cursors to resume from: what this device has processed (the Client is created with them). */
  cursors(): Record<string, number> {
    return Object.fromEntries(this.seen);
  }

  /** The latest decrypted messages of an encrypted conversation, kept in storage (they cannot be decrypted twice). */
  recent(conv: string): SecureMessage[] {
    return [...(this.groups.get(conv)?.archive ?? [])];
  }

  /** Resolves once every message received so far in `conv` has been processed. */
  idle(conv: string): Promise<void> {
    return this.chains.get(conv) ?? Promise.resolve();
  }

  // ---- the queue ----------------------------------------------------------------------------

  /** Runs `fn` after everything queued for `conv`; state is saved when the queue runs dry. */
  private run<T>(conv: string, fn: () => Promise<T>): Promise<T> {
    const p = (this.chains.get(conv) ?? Promise.resolve()).then(fn);
    const tail: Promise<void> = p.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      if (this.chains.get(conv) !== tail) return;
      this.chains.delete(conv);
      return this.flush(conv).catch((e: unknown) => this.fail(e));
    });
    this.chains.set(conv, tail);
    return p;
  }

  private fail(e: unknown): void {
    if (!this.closed) this.emit("error", e instanceof Error ? e : new Error(String(e)));
  }

  private encodeGroup(g: Group): Uint8Array {
    return pack({ state: encodeGroupState(g.state), seq: g.seq, archive: g.archive });
  }

  private decodeGroup(bytes: Uint8Array): Group {
    const v = unpack(bytes) as { state: Uint8Array; seq: number; archive: SecureMessage[] };
    const decoded = decodeGroupState(v.state, 0);
    if (!decoded) throw new Error("stored MLS group state is unreadable");
    return { state: { ...decoded[0], clientConfig }, seq: v.seq, archive: v.archive };
  }

  /** Writes the group's state, then the cursors (so a cursor is never ahead of its group). */
  private async save(conv: string): Promise<void> {
    const g = this.groups.get(conv);
    if (g) await this.storage.put(`group/${conv}`, this.encodeGroup(g));
    else await this.storage.delete(`group/${conv}`);
    this.dirty.delete(conv);
    await this.storage.put("cursors", pack(Object.fromEntries(this.seen)));
  }

  private async flush(conv: string): Promise<void> {
    if (this.dirty.has(conv)) await this.save(conv);
  }

  private setGroup(conv: string, g: Group | null): void {
    if (g) this.groups.set(conv, g);
    else this.groups.delete(conv);
    this.dirty.add(conv);
    const epoch = g ? Number(g.state.groupContext.epoch) : Infinity;
    const waiters = this.epochWaiters.get(conv);
    if (!waiters) return;
    const left = waiters.filter((w) => w.epoch > epoch);
    for (const w of waiters) if (w.epoch <= epoch) w.resolve();
    if (left.length) this.epochWaiters.set(conv, left);
    else this.epochWaiters.delete(conv);
  }

  /** Resolves once this device's group of `conv` has reached `epoch` (or has gone). */
  private waitEpoch(conv: string, epoch: number): Promise<void> {
    const g = this.groups.get(conv);
    if (!g || Number(g.state.groupContext.epoch) >= epoch) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`epoch ${epoch} of ${conv} did not arrive`)), EPOCH_WAIT_MS);
      const list = this.epochWaiters.get(conv) ?? [];
      list.push({
        epoch,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.epochWaiters.set(conv, list);
    });
  }

  // ---- incoming -----------------------------------------------------------------------------

  private me(): P.DeviceRef {
    const s = this.client.session;
    if (!s) throw new ProtocolError(-1, "not connected");
    return { user: s.user, device: s.device };
  }

  private async process(m: P.WireMessage): Promise<void> {
    this.seen.set(m.conv, Math.max(this.seen.get(m.conv) ?? 0, m.seq));
    this.dirty.add(m.conv);
    const g = this.groups.get(m.conv);
    if (g && m.seq <= g.seq) return;
    switch (m.kind) {
      case MessageKind.MlsCommit:
        return this.handshake(m);
      case MessageKind.Mls:
        return this.application(m);
      default:
        if (g) g.seq = m.seq;
        if (m.kind === MessageKind.System) this.systemMessage(m);
        this.deliver(m, { ...m, encrypted: false });
    }
  }

  private deliver(m: P.WireMessage, out: SecureMessage): void {
    const g = this.groups.get(m.conv);
    if (g && out.encrypted) {
      g.archive.push(out);
      if (g.archive.length > this.opts.archive) g.archive.splice(0, g.archive.length - this.opts.archive);
    }
    this.emit("message", out);
  }

  private undecryptable(m: P.WireMessage, why: string): void {
    this.deliver(m, { ...m, body: new Uint8Array(0), encrypted: true, undecryptable: why });
  }

  /** Membership changed: the group must follow (someone commits it; this device after a pause, if no one did). */
  private systemMessage(m: P.WireMessage): void {
    if (!this.groups.has(m.conv)) return;
    let op: number | undefined;
    try {
      op = (unpack(m.body) as P.SystemEvent).op;
    } catch {
      return;
    }
    if (op === SystemOp.MembersAdded || op === SystemOp.Joined || op === SystemOp.MemberRemoved || op === SystemOp.MemberLeft) {
      this.members.delete(m.conv);
      this.scheduleReconcile(m.conv, this.opts.reconcileDelayMs);
    }
  }

  private async application(m: P.WireMessage): Promise<void> {
    const g = this.groups.get(m.conv);
    const me = this.client.session;
    if (me && m.from === me.user && m.dev === me.device) {
      // This device's own message: MLS gives a sender no way to read it back; its plaintext was kept.
      if (g) g.seq = m.seq;
      const inner = this.sent.get(m.cid);
      this.sent.delete(m.cid);
      if (!inner) return this.undecryptable(m, "sent by this device; its plaintext was not kept");
      return this.deliver(m, { ...m, kind: inner.k, body: inner.b, encrypted: true, ...(inner.f ? { file: inner.f } : {}) });
    }
    if (!g) return this.undecryptable(m, "this device is not in the conversation's group (the message was sent before it joined)");
    g.seq = m.seq;
    const mm = decodeMessage(m.body);
    if (!mm || mm.wireformat !== "mls_private_message") return this.undecryptable(m, "not an MLS application message");
    const pm = mm.privateMessage;
    try {
      const sender = await this.senderOf(g.state, pm);
      if (!sender || sender.user !== m.from || sender.device !== m.dev) {
        this.emit("alert", { conv: m.conv, message: `a message the server says is from ${m.from}/${m.dev} was sent by ${sender ? `${sender.user}/${sender.device}` : "an unknown leaf"}` });
        return this.undecryptable(m, "its sender is not who the server says");
      }
      const r = await processPrivateMessage(g.state, pm, emptyPskIndex, this.cs);
      g.state = r.newState;
      if (r.kind !== "applicationMessage") return this.undecryptable(m, "not an application message");
      const inner = unpack(r.message) as Inner;
      if (typeof inner?.k !== "number" || !(inner.b instanceof Uint8Array)) return this.undecryptable(m, "unreadable content");
      this.deliver(m, { ...m, kind: inner.k, body: inner.b, encrypted: true, ...(inner.f ? { file: inner.f } : {}) });
    } catch (e) {
      this.undecryptable(m, `cannot be decrypted: ${(e as Error).message}`);
    }
  }

  /** The device whose leaf sent `pm` (decrypting its sender data with the epoch's secret). */
  private async senderOf(state: ClientState, pm: PrivateMessage): Promise<P.DeviceRef | null> {
    const current = pm.epoch === state.groupContext.epoch;
    const past = current ? undefined : state.historicalReceiverData.get(pm.epoch);
    const secret = current ? state.keySchedule.senderDataSecret : past?.senderDataSecret;
    const tree = current ? state.ratchetTree : past?.ratchetTree;
    if (!secret || !tree) throw new Error(`epoch ${pm.epoch} is not known here (too old, or not reached)`);
    const data = await decryptSenderData(pm, secret, this.cs);
    if (!data) throw new Error("its sender data does not decrypt");
    const cred = getCredentialFromLeafIndex(tree, toLeafIndex(data.leafIndex));
    return cred.credentialType === "basic" ? parseIdentity(cred.identity) : null;
  }

  private async handshake(m: P.WireMessage): Promise<void> {
    let hs: P.MlsHandshake;
    try {
      hs = unpack(m.body) as P.MlsHandshake;
    } catch {
      return;
    }
    const commit = hs?.commit instanceof Uint8Array ? decodeMessage(hs.commit) : null;
    if (!commit || commit.wireformat !== "mls_public_message") return;
    const g = this.groups.get(m.conv);
    if (!g) {
      if (hs.welcome instanceof Uint8Array) await this.join(m, hs);
      return;
    }
    g.seq = m.seq;
    const content = commit.publicMessage.content;
    const epoch = g.state.groupContext.epoch;
    // This device's own commit (applied when the server accepted it), or one seen before.
    if (content.epoch < epoch) return;
    if (content.epoch > epoch) {
      this.emit("alert", { conv: m.conv, message: `a commit for epoch ${content.epoch} arrived while this device is at ${epoch}: the group is lost on this device` });
      return;
    }
    const before = leavesOf(g.state.ratchetTree);
    const sender = content.sender.senderType === "member" ? before[content.sender.leafIndex] : null;
    if (!sender || sender.user !== m.from || sender.device !== m.dev) {
      this.emit("alert", { conv: m.conv, message: `a commit the server says is from ${m.from}/${m.dev} was made by ${sender ? `${sender.user}/${sender.device}` : "an unknown leaf"}` });
    }
    try {
      const r = await processMessage(commit, g.state, emptyPskIndex, acceptAll, this.cs);
      const after = leavesOf(r.newState.ratchetTree);
      const me = this.me();
      if (!after.some((d) => d && same(d, me))) {
        this.setGroup(m.conv, null);
        this.emit("group", { conv: m.conv, epoch: Number(r.newState.groupContext.epoch), added: [], removed: [me], left: true });
        return;
      }
      this.setGroup(m.conv, { ...g, state: r.newState });
      await this.announce(m.conv, before, after, Number(r.newState.groupContext.epoch));
    } catch (e) {
      this.emit("alert", { conv: m.conv, message: `a commit could not be applied (${(e as Error).message}): the group is lost on this device` });
    }
  }

  /** Emits the group change, and an alert for devices added for users who are not members. */
  private async announce(conv: string, before: (P.DeviceRef | null)[], after: (P.DeviceRef | null)[], epoch: number): Promise<void> {
    const had = (list: (P.DeviceRef | null)[], d: P.DeviceRef) => list.some((x) => x && same(x, d));
    const added = after.filter((d): d is P.DeviceRef => d !== null && !had(before, d));
    const removed = before.filter((d): d is P.DeviceRef => d !== null && !had(after, d));
    if (added.length > 0) {
      const members = await this.membersOf(conv);
      for (const d of added) if (members && !members.has(d.user)) this.emit("alert", { conv, message: `the group now includes ${d.user}/${d.device}, who is not a member of the conversation` });
    }
    this.emit("group", { conv, epoch, added, removed });
  }

  private async membersOf(conv: string): Promise<Set<string> | null> {
    let m = this.members.get(conv);
    if (!m) {
      try {
        m = new Set((await this.client.conversation(conv)).members.map((x) => x.user));
      } catch {
        return null;
      }
      this.members.set(conv, m);
    }
    return m;
  }

  /** Joins a group from the Welcome in a commit, if it welcomes one of this device's KeyPackages. */
  private async join(m: P.WireMessage, hs: P.MlsHandshake): Promise<void> {
    const w = decodeMessage(hs.welcome!);
    if (!w || w.wireformat !== "mls_welcome") return;
    for (const secret of w.welcome.secrets) {
      const ref = hex(secret.newMember);
      const stored = await this.storage.get(`kp/${ref}`);
      if (!stored) continue;
      const kp = unpack(stored) as StoredKeyPackage;
      const pub = decodeMessage(kp.pub);
      if (!pub || pub.wireformat !== "mls_key_package") continue;
      const priv: PrivateKeyPackage = { initPrivateKey: kp.init, hpkePrivateKey: kp.hpke, signaturePrivateKey: this.signer.signKey };
      try {
        const tree = await this.treeOf(hs);
        const state = await joinGroup(w.welcome, pub.keyPackage, priv, emptyPskIndex, this.cs, tree, undefined, clientConfig);
        if (!kp.lastResort) await this.storage.delete(`kp/${ref}`);
        const after = leavesOf(state.ratchetTree);
        this.setGroup(m.conv, { state, seq: m.seq, archive: [] });
        this.emit("group", { conv: m.conv, epoch: Number(state.groupContext.epoch), added: after.filter((d): d is P.DeviceRef => d !== null), removed: [], joined: true });
      } catch (e) {
        this.emit("alert", { conv: m.conv, message: `a Welcome for this device could not be used: ${(e as Error).message}` });
      }
      // A KeyPackage was used up: top the stock up.
      void this.topUp().catch((e: unknown) => this.fail(e));
      return;
    }
  }

  private async treeOf(hs: P.MlsHandshake): Promise<RatchetTree> {
    let bytes = hs.tree;
    if (!bytes && hs.treeMedia) {
      const { url } = await this.client.mediaUrl(hs.treeMedia);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`downloading the ratchet tree failed (${res.status})`);
      bytes = new Uint8Array(await res.arrayBuffer());
    }
    if (!bytes) throw new Error("the Welcome came without a ratchet tree");
    const t = decodeRatchetTree(bytes, 0);
    if (!t || t[1] !== bytes.length) throw new Error("the ratchet tree is malformed");
    return t[0];
  }

  // ---- KeyPackages ----------------------------------------------------------------------------

  private async afterConnect(): Promise<void> {
    const me = this.me();
    const stored = await this.storage.get("owner");
    if (!stored) await this.storage.put("owner", pack(me));
    else if (!same(unpack(stored) as P.DeviceRef, me)) throw new Error(`this MLS storage belongs to ${(unpack(stored) as P.DeviceRef).user}/${(unpack(stored) as P.DeviceRef).device}, not ${me.user}/${me.device}`);
    await this.topUp();
    await this.reconcileOwnDevices();
  }

  private async newKeyPackage(lastResort: boolean): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage; bytes: Uint8Array }> {
    const me = this.me();
    const now = Math.floor(Date.now() / 1000);
    const lifetime = { notBefore: BigInt(now - 3600), notAfter: BigInt(now + KP_LIFETIME_S) };
    const kp = await generateKeyPackageWithKey({ credentialType: "basic", identity: credentialIdentity(me.user, me.device) }, defaultCapabilities(), lifetime, [], this.signer, this.cs);
    const bytes = encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" });
    const ref = hex(await makeKeyPackageRef(kp.publicPackage, this.cs.hash));
    const rec: StoredKeyPackage = { pub: bytes, init: kp.privatePackage.initPrivateKey, hpke: kp.privatePackage.hpkePrivateKey, lastResort, expiresAt: (now + KP_LIFETIME_S) * 1000 };
    // The private keys are stored before the server ever sees the package.
    await this.storage.put(`kp/${ref}`, pack(rec));
    return { ...kp, bytes };
  }

  /** Uploads KeyPackages until the server holds the stock asked for, and a fresh last-resort one. */
  async topUp(): Promise<P.KeyPackageCount> {
    const now = Date.now();
    let lastResortValid = false;
    for (const key of await this.storage.keys("kp/")) {
      const v = await this.storage.get(key);
      const kp = v ? (unpack(v) as StoredKeyPackage) : null;
      if (!kp || kp.expiresAt <= now) await this.storage.delete(key);
      else if (kp.lastResort && kp.expiresAt - now > LAST_RESORT_RENEW_MS) lastResortValid = true;
    }
    let stock = (await this.client.request(Method.KeyPackageCount, {})) as P.KeyPackageCount;
    if (stock.count > this.opts.keyPackages / 2 && stock.lastResort && lastResortValid) return stock;
    let missing = Math.max(0, this.opts.keyPackages - stock.count);
    let lastResort = !(stock.lastResort && lastResortValid);
    while (missing > 0 || lastResort) {
      const batch = Math.min(missing, 100);
      const packages: Uint8Array[] = [];
      for (let i = 0; i < batch; i++) packages.push((await this.newKeyPackage(false)).bytes);
      const params: P.KeyPackageUploadParams = { packages };
      if (lastResort) params.lastResort = (await this.newKeyPackage(true)).bytes;
      stock = (await this.client.request(Method.KeyPackageUpload, params)) as P.KeyPackageCount;
      missing -= batch;
      lastResort = false;
    }
    return stock;
  }

  // ---- groups -----------------------------------------------------------------------------------

  /**
   * Turns end-to-end encryption on for a conversation: creates its MLS group with every member's
   * devices that hold KeyPackages. Messages sent before stay as they were. Resolves false when
   * another device made the group first (this one is in it once its Welcome arrives).
   */
  async encrypt(conv: string): Promise<boolean> {
    return this.run(conv, async () => {
      if (this.groups.has(conv)) return true;
      const info = (await this.client.request(Method.MlsGroup, { conv })) as P.MlsGroupInfo;
      if (info.group) return false;
      const own = await this.newKeyPackage(false);
      await this.storage.delete(`kp/${hex(await makeKeyPackageRef(own.publicPackage, this.cs.hash))}`);
      const state = await createGroup(crypto.getRandomValues(new Uint8Array(16)), own.publicPackage, own.privatePackage, [], this.cs, clientConfig);
      const claim = (await this.client.request(Method.KeyPackageClaim, { conv })) as P.KeyPackageClaimResult;
      const founded = await this.commitNow(conv, { state, seq: this.seen.get(conv) ?? 0, archive: [] }, claim.packages, [], 0);
      if (founded) this.emit("group", { conv, epoch: this.epoch(conv)!, added: this.devices(conv), removed: [], joined: true });
      return founded;
    });
  }

  /** A commit with no proposals: new keys for this device's path (post-compromise security), rebased when overtaken. */
  async update(conv: string): Promise<void> {
    for (let attempt = 0; attempt < REBASES; attempt++) {
      const info = (await this.client.request(Method.MlsGroup, { conv })) as P.MlsGroupInfo;
      await this.waitEpoch(conv, info.epoch);
      await this.idle(conv);
      const done = await this.run(conv, async () => {
        const g = this.groups.get(conv);
        if (!g) throw new Error(`${conv} is not end-to-end encrypted on this device`);
        // Stale leaves go with it: the server refuses a commit that leaves them.
        return this.commitNow(conv, g, [], info.stale, info.epoch);
      });
      if (done) return;
    }
    throw new Error(`could not commit in ${conv}: other commits kept overtaking`);
  }

  /**
   * Brings the group in step with the conversation: removes the devices of members who left and
   * revoked devices, adds members' devices that are missing. Rebases when another commit wins.
   */
  reconcile(conv: string): Promise<void> {
    let p = this.reconciling.get(conv);
    if (p) return p;
    p = this.doReconcile(conv).finally(() => this.reconciling.delete(conv));
    this.reconciling.set(conv, p);
    return p;
  }

  private async doReconcile(conv: string): Promise<void> {
    for (let attempt = 0; attempt < REBASES; attempt++) {
      await this.idle(conv);
      if (!this.groups.has(conv)) return;
      const info = (await this.client.request(Method.MlsGroup, { conv })) as P.MlsGroupInfo;
      if (!info.group) return;
      if ((this.epoch(conv) ?? 0) < info.epoch) {
        await this.waitEpoch(conv, info.epoch);
        continue;
      }
      if (info.stale.length === 0 && info.missing.length === 0) return;
      const claim = info.missing.length > 0 ? ((await this.client.request(Method.KeyPackageClaim, { conv })) as P.KeyPackageClaimResult) : { packages: [], none: [] };
      if (info.stale.length === 0 && claim.packages.length === 0) return;
      const done = await this.run(conv, async () => {
        const g = this.groups.get(conv);
        return g ? this.commitNow(conv, g, claim.packages, info.stale, info.epoch) : true;
      });
      if (done) return;
    }
    throw new Error(`could not bring the group of ${conv} up to date: other commits kept overtaking`);
  }

  private scheduleReconcile(conv: string, delayMs: number): void {
    if (this.closed || this.reconcileTimers.has(conv)) return;
    const delay = delayMs > 0 ? delayMs / 2 + Math.random() * delayMs : 0;
    this.reconcileTimers.set(
      conv,
      setTimeout(() => {
        this.reconcileTimers.delete(conv);
        if (this.client.connected) void this.reconcile(conv).catch((e: unknown) => this.fail(e));
      }, delay),
    );
  }

  /** After connecting: every group that lacks one of this user's other devices gets it. */
  private async reconcileOwnDevices(): Promise<void> {
    const mine = (await this.client.devices()).filter((d) => !d.revoked).map((d) => d.device);
    const me = this.me();
    for (const conv of this.groups.keys()) {
      const inGroup = this.devices(conv);
      const lacking = mine.some((d) => !inGroup.some((x) => x.user === me.user && x.device === d));
      const extra = inGroup.some((x) => x.user === me.user && !mine.includes(x.device));
      if (lacking || extra) await this.reconcile(conv).catch((e: unknown) => this.fail(e));
    }
  }

  /**
   * Commits (inside the conversation's queue) the given removes and adds on top of `g`, the state
   * at `epoch`: in several commits when there are many adds. Returns false when the group is no
   * longer at `epoch` or another commit won it (the caller rebases); true once all are accepted.
   */
  private async commitNow(conv: string, g: Group, adds: P.ClaimedKeyPackage[], removes: number[], epoch: number): Promise<boolean> {
    if (Number(g.state.groupContext.epoch) !== epoch) return false;
    let state = g.state;
    let first = true;
    for (let i = 0; first || i < adds.length; i += ADDS_PER_COMMIT) {
      const proposals: Proposal[] = first ? removes.map((r) => ({ proposalType: "remove", remove: { removed: toLeafIndex(r) } })) : [];
      for (const a of adds.slice(i, i + ADDS_PER_COMMIT)) {
        const kp = decodeMessage(a.keyPackage);
        if (kp?.wireformat === "mls_key_package") proposals.push({ proposalType: "add", add: { keyPackage: kp.keyPackage } });
      }
      first = false;
      const res = await createCommit({ state, cipherSuite: this.cs }, { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: false });
      const params: P.MlsCommitParams = { conv, commit: encodeMlsMessage(res.commit) };
      if (res.welcome) {
        params.welcome = encodeMlsMessage({ welcome: res.welcome, wireformat: "mls_welcome", version: "mls10" });
        const tree = encodeRatchetTree(res.newState.ratchetTree);
        // One frame carries the commit, the Welcome and the tree: a large tree goes as media.
        const frame = this.client.session?.limits.maxFrameBytes ?? 128 * 1024;
        if (params.commit.length + params.welcome.length + tree.length + 4096 > frame) params.treeMedia = await this.client.uploadMedia(tree, "application/octet-stream");
        else params.tree = tree;
      }
      let accepted: P.MlsCommitResult;
      try {
        accepted = (await this.client.request(Method.MlsCommit, params)) as P.MlsCommitResult;
      } catch (e) {
        if (e instanceof ProtocolError && e.code === ErrorCode.EpochStale) return false;
        throw e;
      }
      state = res.newState;
      this.ownCommit(conv, params, accepted.seq);
      const before = leavesOf(g.state.ratchetTree);
      this.setGroup(conv, { ...g, state });
      await this.save(conv);
      await this.announce(conv, before, leavesOf(state.ratchetTree), Number(state.groupContext.epoch));
      g = this.groups.get(conv)!;
    }
    return true;
  }

  /** This device's commit, stored at `seq`, takes its place in the conversation's order (it is not pushed back). */
  private ownCommit(conv: string, params: P.MlsCommitParams, seq: number): void {
    const me = this.me();
    const hs: P.MlsHandshake = { commit: params.commit };
    if (params.welcome) hs.welcome = params.welcome;
    if (params.tree) hs.tree = params.tree;
    if (params.treeMedia) hs.treeMedia = params.treeMedia;
    // Later, from outside the queue: the Client hands it back to process() through the queue.
    queueMicrotask(() => this.client.acceptOwn({ conv, seq, id: 0n, from: me.user, dev: me.device, cid: "", kind: MessageKind.MlsCommit, body: pack(hs), ts: Date.now() }));
  }

  // ---- sending ----------------------------------------------------------------------------------

  /**
   * Sends a message: encrypted in an encrypted conversation, as it is otherwise. Resolves once the
   * server has stored it. An epoch moved on meanwhile, or devices that must leave the group first,
   * are handled here (catch up or commit, then encrypt again).
   */
  async send(conv: string, body: string | Uint8Array, opts: { kind?: number; cid?: string; file?: EncryptedFile } = {}): Promise<P.SendResult> {
    const kind = opts.kind ?? (opts.file ? MessageKind.Media : MessageKind.Text);
    const bytes = typeof body === "string" ? enc.encode(body) : body;
    if (!this.groups.has(conv)) {
      if (opts.file) throw new Error(`${conv} is not end-to-end encrypted: send files with the Client`);
      return this.client.send(conv, bytes, { kind, ...(opts.cid ? { cid: opts.cid } : {}) });
    }
    const cid = opts.cid ?? crypto.randomUUID();
    const inner: Inner = opts.file ? { k: kind, b: bytes, f: opts.file } : { k: kind, b: bytes };
    for (let attempt = 0; ; attempt++) {
      const ciphertext = await this.run(conv, () => this.encryptFor(conv, inner));
      this.sent.set(cid, inner);
      try {
        return await this.client.send(conv, ciphertext, { kind: MessageKind.Mls, cid, ...(opts.file ? { media: opts.file.media } : {}) });
      } catch (e) {
        this.sent.delete(cid);
        if (!(e instanceof ProtocolError) || attempt >= REBASES) throw e;
        if (e.code === ErrorCode.EpochStale) {
          const info = (await this.client.request(Method.MlsGroup, { conv })) as P.MlsGroupInfo;
          await this.waitEpoch(conv, info.epoch);
        } else if (e.code === ErrorCode.CommitRequired) await this.reconcile(conv);
        else throw e;
      }
    }
  }

  /** Encrypts in the queue, and saves the state before the ciphertext leaves (a reused generation would reuse a nonce). */
  private async encryptFor(conv: string, inner: Inner): Promise<Uint8Array> {
    const g = this.groups.get(conv);
    if (!g) throw new Error(`${conv} is no longer end-to-end encrypted on this device`);
    const r = await createApplicationMessage(g.state, pack(inner), this.cs);
    g.state = r.newState;
    await this.save(conv);
    return encodeMlsMessage({ privateMessage: r.privateMessage, wireformat: "mls_private_message", version: "mls10" });
  }

  /** Encrypts a file with a fresh key, uploads the ciphertext and sends it with its key inside the message. */
  async sendFile(conv: string, data: Uint8Array, meta: { contentType: string; name?: string; caption?: string; thumbnail?: { data: Uint8Array; contentType: string } }): Promise<P.SendResult> {
    if (!this.groups.has(conv)) throw new Error(`${conv} is not end-to-end encrypted: send files with the Client`);
    const { ciphertext, key, sha256 } = await encryptFile(data);
    const media = await this.client.uploadMedia(ciphertext, "application/octet-stream");
    const file: EncryptedFile = { media, key, sha256, contentType: meta.contentType, size: data.length };
    if (meta.name) file.name = meta.name;
    if (meta.thumbnail) file.thumbnail = meta.thumbnail;
    return this.send(conv, meta.caption ?? "", { kind: MessageKind.Media, file });
  }

  /** Downloads and decrypts a file an encrypted message carries. */
  async downloadFile(file: EncryptedFile): Promise<Uint8Array> {
    const { url } = await this.client.mediaUrl(file.media);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`download failed (${res.status})`);
    return decryptFile(new Uint8Array(await res.arrayBuffer()), file);
  }

  // ---- membership and safety --------------------------------------------------------------------

  /** Adds users to a group, then their devices to its MLS group. */
  async addMembers(conv: string, users: string[]): Promise<P.GroupAddResult> {
    const r = await this.client.addMembers(conv, users);
    if (this.groups.has(conv) && r.seq > 0) await this.reconcile(conv);
    return r;
  }

  /** Removes a member (or leaves, for this user), then their devices from the MLS group. */
  async removeMember(conv: string, user: string): Promise<P.MembershipResult> {
    const r = await this.client.removeMember(conv, user);
    if (this.groups.has(conv) && user !== this.client.session?.user) await this.reconcile(conv);
    return r;
  }

  /** Each device of `user` in the conversation's group, with its signature key: what a safety number covers. */
  fingerprint(conv: string, user: string): DeviceKey[] {
    const g = this.groups.get(conv);
    return g ? deviceKeys(g.state.ratchetTree).filter((k) => k.user === user) : [];
  }

  /** The safety number of this user and `user` in the conversation's group (60 digits), or null when not encrypted. */
  async safetyNumber(conv: string, user: string): Promise<string | null> {
    const g = this.groups.get(conv);
    const me = this.client.session?.user;
    if (!g || !me) return null;
    return safetyNumber(me, user, deviceKeys(g.state.ratchetTree));
  }
}
