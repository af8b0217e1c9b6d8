// What the delivery service refuses (docs/protocol.md §15): KeyPackages that are malformed,
// expired, of another ciphersuite, badly signed or naming another device; application messages
// that are garbage, truncated, of another group, too old, replayed or from a device outside the
// group; commits that are garbage, forged, stale, add non-members or remove members. Each refusal
// has its code, and stores nothing. KeyPackages are claimed once under concurrency, the last-resort
// one only when the rest are gone.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createApplicationMessage,
  createCommit,
  decodeMlsMessage,
  defaultCapabilities,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type Credential,
  type KeyPackage,
} from "ts-mls";
import { ErrorCode, MessageKind, Method } from "../../src/proto/codes.ts";
import { credentialIdentity, MLS_CIPHERSUITE } from "../../src/proto/mls.ts";
import type { KeyPackageClaimResult, KeyPackageCount, MlsGroupInfo } from "../../src/proto/types.ts";
import { ProtocolError, type Client } from "../../src/sdk/index.ts";
import { startHarness, until, type Harness } from "../helpers/harness.ts";
import { sameEpoch, secure, stateOf, suiteOf, texts, type Secure } from "./helpers.ts";

let h: Harness;
let cs: CiphersuiteImpl;
const MAX_PACKAGES = 12;
beforeAll(async () => {
  h = await startHarness({ e2ee: { maxKeyPackagesPerDevice: MAX_PACKAGES, keyPackagesLowWater: 2 } });
  cs = await getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
});
afterAll(() => h.stop());

const te = new TextEncoder();
const cred = (user: string, device: string): Credential => ({ credentialType: "basic", identity: credentialIdentity(user, device) });
const now = () => BigInt(Math.floor(Date.now() / 1000));

async function keyPackage(user: string, device: string, opts: { lifetime?: { notBefore: bigint; notAfter: bigint }; suite?: CiphersuiteImpl } = {}): Promise<Uint8Array> {
  const lifetime = opts.lifetime ?? { notBefore: now() - 60n, notAfter: now() + 86_400n };
  const kp = await generateKeyPackage(cred(user, device), defaultCapabilities(), lifetime, [], opts.suite ?? cs);
  return encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" });
}

/** The reply code of a request: 0 on success. */
async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

async function refusedWith(c: Client, method: number, params: object, expected: number, conv?: string): Promise<string> {
  const before = conv ? await h.embedded.node.ctx.messages.lastSeq(conv) : 0;
  const err = await c.request(method as never, params).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProtocolError);
  expect((err as ProtocolError).code).toBe(expected);
  if (conv) expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(before);
  return (err as ProtocolError).message;
}

describe("KeyPackage uploads", () => {
  test("a valid upload is counted; malformed, expired, other-suite, badly signed and other users' packages are refused, and nothing of the batch is kept", async () => {
    const c = await h.client("kp-up", "d1");
    const good = await keyPackage("kp-up", "d1");
    expect((await c.request(Method.KeyPackageUpload, { packages: [good] })) as KeyPackageCount).toEqual({ device: "d1", count: 1, lastResort: false });
    const bad: [string, Uint8Array][] = [
      ["garbage", crypto.getRandomValues(new Uint8Array(300))],
      ["truncated", good.subarray(0, good.length - 10)],
      ["trailing bytes", new Uint8Array([...good, 0])],
      ["expired", await keyPackage("kp-up", "d1", { lifetime: { notBefore: now() - 7200n, notAfter: now() - 3600n } })],
      ["another user's credential", await keyPackage("someone-else", "d1")],
      ["another device's credential", await keyPackage("kp-up", "d2")],
      ["another ciphersuite", await keyPackage("kp-up", "d1", { suite: await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMP256_AES128GCM_SHA256_P256")) })],
    ];
    // A bad signature: the last byte of the package's signature flipped.
    const forged = good.slice();
    forged[forged.length - 1]! ^= 1;
    bad.push(["bad signature", forged]);
    const messages: string[] = [];
    for (const [, bytes] of bad) messages.push(await refusedWith(c, Method.KeyPackageUpload, { packages: [await keyPackage("kp-up", "d1"), bytes] }, ErrorCode.InvalidMls));
    expect(messages.join("\n")).toContain("expired");
    expect(messages.join("\n")).toContain("names someone-else/d1");
    expect(messages.join("\n")).toContain("ciphersuite");
    expect(messages.join("\n")).toContain("bad signature");
    // Only the first package was ever stored.
    expect((await c.request(Method.KeyPackageCount, {})) as KeyPackageCount).toEqual({ device: "d1", count: 1, lastResort: false });
  });

  test("a device holds at most the configured number of packages", async () => {
    const c = await h.client("kp-max", "d1");
    const packages = await Promise.all(Array.from({ length: MAX_PACKAGES }, () => keyPackage("kp-max", "d1")));
    expect(((await c.request(Method.KeyPackageUpload, { packages })) as KeyPackageCount).count).toBe(MAX_PACKAGES);
    await refusedWith(c, Method.KeyPackageUpload, { packages: [await keyPackage("kp-max", "d1")] }, ErrorCode.Conflict);
    // The same packages again are not counted twice; a last-resort one is apart from the limit.
    expect((await c.request(Method.KeyPackageUpload, { packages, lastResort: await keyPackage("kp-max", "d1") })) as KeyPackageCount).toEqual({ device: "d1", count: MAX_PACKAGES, lastResort: true });
  });
});

describe("KeyPackage claims", () => {
  test("concurrent claims get each package once; the last-resort one only when the rest are gone; the owner hears it is low", async () => {
    const target = await h.client("kp-target", "t1");
    const pushes: KeyPackageCount[] = [];
    target.on("keyPackages", (k) => pushes.push(k));
    const packages = await Promise.all(Array.from({ length: 5 }, () => keyPackage("kp-target", "t1")));
    const lastResort = await keyPackage("kp-target", "t1");
    await target.request(Method.KeyPackageUpload, { packages, lastResort });
    // Twelve users, each in a direct conversation with the target, claim at once.
    const claimers = await Promise.all(Array.from({ length: 12 }, (_, i) => h.client(`kp-claimer-${i}`, "c1")));
    const convs = await Promise.all(claimers.map((c) => c.openDirect("kp-target").then((x) => x.id)));
    const results = await Promise.all(claimers.map((c, i) => c.request(Method.KeyPackageClaim, { conv: convs[i]! }) as Promise<KeyPackageClaimResult>));
    const got = results.map((r) => r.packages.find((p) => p.user === "kp-target")!);
    expect(got.every((p) => p !== undefined)).toBe(true);
    const regular = got.filter((p) => !p.lastResort).map((p) => Buffer.from(p.keyPackage).toString("hex"));
    expect(regular.sort()).toEqual(packages.map((p) => Buffer.from(p).toString("hex")).sort());
    const last = got.filter((p) => p.lastResort);
    expect(last).toHaveLength(7);
    for (const p of last) expect(p.keyPackage).toEqual(lastResort);
    expect((await target.request(Method.KeyPackageCount, {})) as KeyPackageCount).toEqual({ device: "t1", count: 0, lastResort: true });
    await until(() => pushes.some((p) => p.device === "t1" && p.count <= 2), 10_000, "the owner to hear its stock is low");
  });
});

describe("application messages", () => {
  let alice: Secure;
  let bob: Secure;
  let conv: string;
  beforeAll(async () => {
    alice = await secure(h, "am-alice", "am-alice-1");
    bob = await secure(h, "am-bob", "am-bob-1");
    conv = (await alice.e.client.openDirect("am-bob")).id;
    await alice.e.encrypt(conv);
    await sameEpoch([alice, bob], conv);
  });

  /** An application message of bob's group, encrypted as the SDK does (its state moves on). */
  async function ciphertext(text: string): Promise<Uint8Array> {
    return (bob.e as unknown as { encryptFor(c: string, i: object): Promise<Uint8Array> }).encryptFor(conv, { k: MessageKind.Text, b: te.encode(text) });
  }
  const send = (body: Uint8Array, cid = crypto.randomUUID()) => bob.e.client.send(conv, body, { kind: MessageKind.Mls, cid });

  test("garbage, truncated, padded, another group's and commit-typed bodies are refused with InvalidMls and not stored", async () => {
    const good = await ciphertext("fine");
    const last = await h.embedded.node.ctx.messages.lastSeq(conv);
    const otherGroup = good.slice();
    otherGroup[5]! ^= 0xff; // a byte of the group id
    const commitTyped = good.slice();
    const groupIdLen = commitTyped[4]! & 0x3f;
    commitTyped[5 + groupIdLen + 8] = 3; // content_type: commit
    for (const body of [crypto.getRandomValues(new Uint8Array(200)), good.subarray(0, good.length - 1), new Uint8Array([...good, 0]), otherGroup, commitTyped, new Uint8Array(0)]) {
      expect(await code(send(body))).toBe(ErrorCode.InvalidMls);
    }
    expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(last);
    expect(await code(send(good))).toBe(0);
  });

  test("a replay (the same bytes under another client id) is refused; a resend under the same id is answered as a duplicate", async () => {
    const body = await ciphertext("once");
    const cid = crypto.randomUUID();
    const first = await send(body, cid);
    expect(first.dup).toBe(false);
    expect(await code(send(body))).toBe(ErrorCode.InvalidMls);
    const again = await bob.e.client.request(Method.Send, { conv, cid, kind: MessageKind.Mls, body, resend: true });
    expect(again).toMatchObject({ seq: first.seq, dup: true });
    expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(first.seq);
  });

  test("a message from an epoch older than the window is refused with EpochStale", async () => {
    const old = stateOf(bob, conv);
    for (let i = 0; i < h.config.e2ee.epochWindow + 1; i++) await alice.e.update(conv);
    await sameEpoch([alice, bob], conv, Number(old.groupContext.epoch) + h.config.e2ee.epochWindow + 1);
    const stale = await createApplicationMessage(old, te.encode("from long ago"), suiteOf(bob));
    const body = encodeMlsMessage({ privateMessage: stale.privateMessage, wireformat: "mls_private_message", version: "mls10" });
    const last = await h.embedded.node.ctx.messages.lastSeq(conv);
    expect(await code(send(body))).toBe(ErrorCode.EpochStale);
    expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(last);
  });

  test("a ciphertext forged in transit is stored (the server cannot tell) but no member decrypts it", async () => {
    const body = await ciphertext("tampered");
    body[body.length - 3]! ^= 1;
    const ack = await send(body);
    await until(() => alice.got.some((m) => m.seq === ack.seq));
    const m = alice.got.find((x) => x.seq === ack.seq)!;
    expect(m.undecryptable).toBeDefined();
    expect(texts(alice, conv)).not.toContain("tampered");
  });

  test("a device outside the group cannot send into it", async () => {
    const outsider = await h.client("am-bob", "am-bob-no-mls");
    const body = await ciphertext("from outside");
    const err = await outsider.send(conv, body, { kind: MessageKind.Mls }).catch((e: ProtocolError) => e);
    expect((err as ProtocolError).code).toBe(ErrorCode.Forbidden);
  });
});

describe("commits", () => {
  let alice: Secure;
  let bob: Secure;
  let conv: string;
  beforeAll(async () => {
    alice = await secure(h, "cm-alice", "cm-alice-1");
    bob = await secure(h, "cm-bob", "cm-bob-1");
    conv = (await alice.e.client.createGroup("commits", ["cm-bob"])).id;
    await alice.e.encrypt(conv);
    await sameEpoch([alice, bob], conv);
  });

  const commitOf = async (s: Secure, opts: Parameters<typeof createCommit>[1] = {}) =>
    createCommit({ state: stateOf(s, conv), cipherSuite: suiteOf(s) }, { wireAsPublicMessage: true, ...opts });
  const kpOf = (bytes: Uint8Array): KeyPackage => {
    const m = decodeMlsMessage(bytes, 0)![0];
    if (m.wireformat !== "mls_key_package") throw new Error("not a key package");
    return m.keyPackage;
  };

  test("garbage, trailing bytes and encrypted (PrivateMessage) commits are refused with InvalidMls", async () => {
    const good = encodeMlsMessage((await commitOf(alice)).commit);
    const priv = encodeMlsMessage((await commitOf(alice, { wireAsPublicMessage: false })).commit);
    for (const commit of [crypto.getRandomValues(new Uint8Array(100)), new Uint8Array([...good, 1]), good.subarray(0, 40), priv]) {
      await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit }, ErrorCode.InvalidMls, conv);
    }
  });

  test("a commit sent through another device's connection (a forged sender) is refused with Forbidden", async () => {
    const commit = encodeMlsMessage((await commitOf(alice)).commit);
    await refusedWith(bob.e.client, Method.MlsCommit, { conv, commit }, ErrorCode.Forbidden, conv);
  });

  /** Alice's copy of the group at the server's epoch (other devices' SDKs commit by themselves). */
  async function caughtUp(): Promise<void> {
    const { epoch } = (await alice.e.client.request(Method.MlsGroup, { conv })) as MlsGroupInfo;
    await sameEpoch([alice, bob], conv, epoch);
  }

  test("removing a member, adding a non-member's device, and adding without the right Welcome are refused", async () => {
    await caughtUp();
    // Bob is a member: his leaf may not be removed.
    const bobLeaf = ((await alice.e.client.request(Method.MlsGroup, { conv })) as MlsGroupInfo).leaves.find((l) => l.user === "cm-bob")!.leaf;
    const remove = await commitOf(alice, { extraProposals: [{ proposalType: "remove", remove: { removed: bobLeaf as never } }] });
    await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit: encodeMlsMessage(remove.commit) }, ErrorCode.Forbidden, conv);
    const stranger = await h.client("cm-stranger", "s1");
    const strangerKp = await keyPackage("cm-stranger", "s1");
    await stranger.request(Method.KeyPackageUpload, { packages: [strangerKp] });
    const add = await commitOf(alice, { extraProposals: [{ proposalType: "add", add: { keyPackage: kpOf(strangerKp) } }] });
    const welcome = encodeMlsMessage({ welcome: add.welcome!, wireformat: "mls_welcome", version: "mls10" });
    await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit: encodeMlsMessage(add.commit), welcome, tree: new Uint8Array([0]) }, ErrorCode.Forbidden, conv);
    // A member's device that is not in the group, without a Welcome for it, then with another one's.
    // (Its package is made here, not uploaded: uploading would have bob's SDK add it by itself.)
    const bob2 = await h.client("cm-bob", "cm-bob-2");
    const bobKp = await keyPackage("cm-bob", "cm-bob-2");
    const noWelcome = await commitOf(alice, { extraProposals: [{ proposalType: "add", add: { keyPackage: kpOf(bobKp) } }] });
    await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit: encodeMlsMessage(noWelcome.commit) }, ErrorCode.InvalidMls, conv);
    await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit: encodeMlsMessage(noWelcome.commit), welcome, tree: new Uint8Array([0]) }, ErrorCode.InvalidMls, conv);
    bob2.close();
    stranger.close();
  });

  test("a commit sent twice is stored once (the second is answered with the first's seq); a replay after the next epoch is stale", async () => {
    await caughtUp();
    const res = await commitOf(alice);
    const commit = encodeMlsMessage(res.commit);
    const first = (await alice.e.client.request(Method.MlsCommit, { conv, commit })) as { seq: number; epoch: number };
    const again = (await alice.e.client.request(Method.MlsCommit, { conv, commit })) as { seq: number; epoch: number };
    expect(again).toEqual(first);
    expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(first.seq);
    // (alice's SDK state is now behind the server: this test leaves the group broken for her.)
    await until(() => bob.e.epoch(conv) === first.epoch);
    await bob.e.update(conv);
    await refusedWith(alice.e.client, Method.MlsCommit, { conv, commit }, ErrorCode.EpochStale, conv);
  });
});

describe("groups", () => {
  test("only a commit for epoch 0 by leaf 0 founds a group, and two founders at once get one group", async () => {
    const alice = await secure(h, "fd-alice", "fd-alice-1");
    const bob = await secure(h, "fd-bob", "fd-bob-1");
    const conv = (await alice.e.client.openDirect("fd-bob")).id;
    const [a, b] = await Promise.all([alice.e.encrypt(conv), bob.e.encrypt(conv)]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    await sameEpoch([alice, bob], conv);
    await alice.e.send(conv, "one group");
    await until(() => texts(bob, conv).includes("one group"));
  });
});
