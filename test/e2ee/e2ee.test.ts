// End-to-end encryption through the SDK's E2eeClient against a real embedded server: groups of
// several users with several devices each, what the server stores, membership changes and the
// forward secrecy they must give, revoked devices, racing commits, offline devices, files, safety
// numbers and restarts. One server for the file; each test uses users of its own.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeMlsMessage, emptyPskIndex, processPrivateMessage } from "ts-mls";
import { ErrorCode, MessageKind, Method } from "../../src/proto/codes.ts";
import { ProtocolError } from "../../src/sdk/index.ts";
import { startHarness, until, type Harness } from "../helpers/harness.ts";
import { errorReplies, sameEpoch, secure, stateOf, suiteOf, texts, type Secure } from "./helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

const te = new TextEncoder();

/** Every stored body and media object of the embedded store, to search for plaintext. */
function storedBytes(): Uint8Array[] {
  const db = new Database(join(h.dataDir, "msgr.db"), { readonly: true });
  try {
    // Both the body column (rows from before frames) and the frame that carries the body now.
    return db
      .query<{ body: Uint8Array; frame: Uint8Array | null }, []>("SELECT body, frame FROM messages")
      .all()
      .flatMap((r) => [new Uint8Array(r.body), ...(r.frame ? [new Uint8Array(r.frame)] : [])]);
  } finally {
    db.close();
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

/** An encrypted group of `users` (two devices each), founded by the first user's first device. */
async function group(prefix: string, users: string[], devices = 2): Promise<{ conv: string; all: Secure[]; by: Map<string, Secure[]> }> {
  const by = new Map<string, Secure[]>();
  for (const u of users) {
    const list: Secure[] = [];
    for (let d = 1; d <= devices; d++) list.push(await secure(h, `${prefix}-${u}`, `${prefix}-${u}-${d}`));
    by.set(u, list);
  }
  const all = [...by.values()].flat();
  const founder = all[0]!;
  const conv = (await founder.e.client.createGroup(prefix, users.slice(1).map((u) => `${prefix}-${u}`))).id;
  expect(await founder.e.encrypt(conv)).toBe(true);
  await sameEpoch(all, conv);
  return { conv, all, by };
}

describe("an encrypted group of three users with two devices each", () => {
  test("every device decrypts every message; the server stores none of the plaintexts", async () => {
    const { conv, all } = await group("g3", ["alice", "bob", "carol"]);
    expect(all.map((s) => s.e.devices(conv).length)).toEqual(Array(6).fill(6));
    const sent: string[] = [];
    for (const [i, s] of all.entries()) {
      const text = `secret ${i} from ${s.device} ${crypto.randomUUID()}`;
      sent.push(text);
      await s.e.send(conv, text);
    }
    await until(() => all.every((s) => texts(s, conv).length === sent.length), 30_000, "every device to decrypt every message");
    for (const s of all) expect(texts(s, conv)).toEqual(sent);
    for (const s of all) expect(s.alerts).toEqual([]);
    // The search finds a message sent in the clear elsewhere, and none of the encrypted ones.
    const control = `in the clear ${crypto.randomUUID()}`;
    await all[0]!.e.send((await all[0]!.e.client.openDirect(all[5]!.user)).id, control);
    const stored = storedBytes();
    expect(stored.some((b) => contains(b, te.encode(control)))).toBe(true);
    for (const text of sent) expect(stored.some((b) => contains(b, te.encode(text)))).toBe(false);
    // What the server holds is MLS: application messages, and the commit with its Welcome.
    const kinds = (await h.embedded.node.ctx.messages.range(conv, 0, 100)).map((m) => m.kind);
    expect(kinds.filter((k) => k === MessageKind.Mls)).toHaveLength(sent.length);
    expect(kinds).toContain(MessageKind.MlsCommit);
    expect(kinds).not.toContain(MessageKind.Text);
  });

  test("a plain message is refused in an encrypted conversation, and an MLS one in a plain conversation", async () => {
    const { conv, all } = await group("plain", ["a", "b"], 1);
    const err = await all[0]!.e.client.send(conv, "in the clear").catch((e: ProtocolError) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(ErrorCode.EncryptionRequired);
    const plain = (await all[0]!.e.client.openDirect("plain-b")).id;
    const ct = await all[0]!.e.client.send(plain, new Uint8Array([0, 1, 0, 2]), { kind: MessageKind.Mls }).catch((e: ProtocolError) => e);
    expect((ct as ProtocolError).code).toBe(ErrorCode.InvalidMls);
  });
});

describe("membership changes", () => {
  test("a removed member cannot decrypt what is sent after the removal; a member added later cannot decrypt what was sent before", async () => {
    const { conv, by } = await group("fs", ["alice", "bob", "carol"], 1);
    const [alice, bob, carol] = ["alice", "bob", "carol"].map((u) => by.get(u)![0]!);
    await alice!.e.send(conv, "before dave");
    await until(() => texts(bob!, conv).length === 1 && texts(carol!, conv).length === 1);
    const beforeDave = (await h.embedded.node.ctx.messages.range(conv, 0, 100)).filter((m) => m.kind === MessageKind.Mls);

    // Dave joins: his device gets the Welcome and reads from then on.
    const dave = await secure(h, "fs-dave", "fs-dave-1");
    await alice!.e.addMembers(conv, ["fs-dave"]);
    const e1 = await sameEpoch([alice!, bob!, carol!, dave], conv, 2);
    await carol!.e.send(conv, "welcome dave");
    await until(() => texts(dave, conv).includes("welcome dave"));
    expect(texts(dave, conv)).toEqual(["welcome dave"]);
    // What was sent before, handed to dave's group state, does not decrypt.
    const daveState = stateOf(dave, conv);
    const cs = suiteOf(dave);
    for (const m of beforeDave) {
      const pm = decodeMlsMessage(m.body, 0)![0];
      if (pm.wireformat !== "mls_private_message") throw new Error("expected a private message");
      await expect(processPrivateMessage(daveState, pm.privateMessage, emptyPskIndex, cs)).rejects.toThrow();
    }

    // Bob is removed: the next epoch leaves him out, and he cannot read what follows.
    const bobState = stateOf(bob!, conv);
    await alice!.e.removeMember(conv, "fs-bob");
    await sameEpoch([alice!, carol!, dave], conv, e1 + 1);
    expect(alice!.e.devices(conv).map((d) => d.user)).not.toContain("fs-bob");
    await carol!.e.send(conv, "after bob");
    await until(() => texts(alice!, conv).includes("after bob") && texts(dave, conv).includes("after bob"));
    const after = (await h.embedded.node.ctx.messages.range(conv, 0, 1000)).filter((m) => m.kind === MessageKind.Mls).at(-1)!;
    const pm = decodeMlsMessage(after.body, 0)![0];
    if (pm.wireformat !== "mls_private_message") throw new Error("expected a private message");
    await expect(processPrivateMessage(bobState, pm.privateMessage, emptyPskIndex, cs)).rejects.toThrow();
    expect(texts(bob!, conv)).not.toContain("after bob");
  });

  test("a revoked device is out of every group's next epoch; until then nobody can write", async () => {
    const alice = await secure(h, "rv-alice", "rv-alice-1");
    const alice2 = await secure(h, "rv-alice", "rv-alice-2");
    const bob = await secure(h, "rv-bob", "rv-bob-1");
    const g1 = (await alice.e.client.openDirect("rv-bob")).id;
    const g2 = (await alice.e.client.createGroup("rv", ["rv-bob"])).id;
    for (const conv of [g1, g2]) {
      expect(await alice.e.encrypt(conv)).toBe(true);
      await sameEpoch([alice, alice2, bob], conv);
    }
    const epochs = [alice.e.epoch(g1)!, alice.e.epoch(g2)!];
    await alice.e.client.revokeDevice("rv-alice-2");
    // A SEND of an MLS message is refused until the group drops the device...
    for (const conv of [g1, g2]) {
      const info = await alice.e.client.request(Method.MlsGroup, { conv });
      expect((info as { stale: number[] }).stale).toHaveLength(1);
      const ciphertext = await (bob.e as unknown as { encryptFor(c: string, i: object): Promise<Uint8Array> }).encryptFor(conv, { k: 1, b: te.encode("too early") });
      const refused = await bob.e.client.send(conv, ciphertext, { kind: MessageKind.Mls }).catch((e: ProtocolError) => e);
      expect((refused as ProtocolError).code).toBe(ErrorCode.CommitRequired);
    }
    // ...and the SDK commits the removal, then sends.
    await bob.e.send(g1, "after the revocation");
    await alice.e.send(g2, "after the revocation too");
    for (const [i, conv] of [g1, g2].entries()) {
      await sameEpoch([alice, bob], conv, epochs[i]! + 1);
      expect(bob.e.devices(conv)).not.toContainEqual({ user: "rv-alice", device: "rv-alice-2" });
      expect(alice.e.devices(conv)).toHaveLength(2);
    }
    await until(() => texts(alice, g1).includes("after the revocation") && texts(bob, g2).includes("after the revocation too"));
    expect(texts(alice2, g1)).not.toContain("after the revocation");
  });

  test("a user's new device is added to their groups by their other device", async () => {
    const alice = await secure(h, "nd-alice", "nd-alice-1");
    const bob = await secure(h, "nd-bob", "nd-bob-1");
    const conv = (await alice.e.client.openDirect("nd-bob")).id;
    await alice.e.encrypt(conv);
    await sameEpoch([alice, bob], conv);
    const laptop = await secure(h, "nd-alice", "nd-alice-laptop");
    await sameEpoch([alice, bob, laptop], conv, 2);
    await bob.e.send(conv, "to both of alice's devices");
    await until(() => texts(laptop, conv).includes("to both of alice's devices") && texts(alice, conv).includes("to both of alice's devices"));
  });
});

describe("commits", () => {
  test("two members commit at once: one is accepted, the other rebases, and every member ends in the same epoch", async () => {
    const { conv, all } = await group("race", ["alice", "bob", "carol"], 1);
    const [alice, bob, carol] = all;
    const start = alice!.e.epoch(conv)!;
    const seqBefore = await h.embedded.node.ctx.messages.lastSeq(conv);
    const staleBefore = await errorReplies(h, ErrorCode.EpochStale);
    // Both made on the same epoch before either is sent.
    await Promise.all([alice!.e.idle(conv), bob!.e.idle(conv)]);
    await Promise.all([alice!.e.update(conv), bob!.e.update(conv)]);
    const end = await sameEpoch(all, conv, start + 2);
    expect(end).toBe(start + 2);
    expect(await errorReplies(h, ErrorCode.EpochStale)).toBe(staleBefore + 1);
    // Two commits stored, one per epoch: the refused one never was.
    const commits = (await h.embedded.node.ctx.messages.range(conv, seqBefore, 100)).filter((m) => m.kind === MessageKind.MlsCommit);
    expect(commits).toHaveLength(2);
    // No fork: everyone reads everyone.
    for (const s of all) await s.e.send(conv, `after the race from ${s.user}`);
    await until(() => all.every((s) => texts(s, conv).length === 3));
    for (const s of [alice, bob, carol]) expect(texts(s!, conv).sort()).toEqual(all.map((x) => `after the race from ${x.user}`).sort());
  });

  test("a commit for a stale epoch is refused with EpochStale and changes nothing", async () => {
    const { conv, all } = await group("stale", ["a", "b"], 1);
    const [a, b] = all;
    // b falls behind: a commits, b's copy of the group is still at the epoch before.
    await b!.e.idle(conv);
    const old = stateOf(b!, conv);
    await a!.e.update(conv);
    await sameEpoch(all, conv, 2);
    const { createCommit, encodeMlsMessage } = await import("ts-mls");
    const res = await createCommit({ state: old, cipherSuite: suiteOf(b!) }, { wireAsPublicMessage: true });
    const last = await h.embedded.node.ctx.messages.lastSeq(conv);
    const err = await b!.e.client.request(Method.MlsCommit, { conv, commit: encodeMlsMessage(res.commit) }).catch((e: ProtocolError) => e);
    expect((err as ProtocolError).code).toBe(ErrorCode.EpochStale);
    expect(await h.embedded.node.ctx.messages.lastSeq(conv)).toBe(last);
  });
});

describe("offline devices", () => {
  test("a device offline across five epochs and 100 messages reconnects and decrypts them all, in order", async () => {
    const { conv, all, by } = await group("off", ["alice", "bob"], 1);
    const [alice] = all;
    let bob = by.get("bob")![0]!;
    bob.e.close();
    const sent: string[] = [];
    for (let epoch = 0; epoch < 5; epoch++) {
      await alice!.e.update(conv);
      for (let i = 0; i < 20; i++) {
        const text = `epoch ${epoch} message ${i}`;
        sent.push(text);
        await alice!.e.send(conv, text);
      }
    }
    // bob's device comes back with the state it left with.
    bob = await secure(h, "off-bob", "off-bob-1", { storage: bob.storage });
    await until(() => texts(bob, conv).length === 100, 60_000, "100 messages decrypted");
    expect(texts(bob, conv)).toEqual(sent);
    expect(bob.e.epoch(conv)).toBe(alice!.e.epoch(conv));
    expect(bob.got.filter((m) => m.undecryptable)).toEqual([]);
  });

  test("a device added while offline gets its Welcome once when it comes back", async () => {
    const alice = await secure(h, "ow-alice", "ow-alice-1");
    const bob = await secure(h, "ow-bob", "ow-bob-1");
    bob.e.close();
    const conv = (await alice.e.client.openDirect("ow-bob")).id;
    await alice.e.encrypt(conv);
    expect(alice.e.devices(conv)).toContainEqual({ user: "ow-bob", device: "ow-bob-1" });
    await alice.e.send(conv, "while you were away");
    const back = await secure(h, "ow-bob", "ow-bob-1", { storage: bob.storage });
    await until(() => texts(back, conv).includes("while you were away"));
    // Reconnecting again replays nothing: the Welcome was used once.
    back.e.close();
    const joins: number[] = [];
    const again = await secure(h, "ow-bob", "ow-bob-1", { storage: back.storage, beforeConnect: (e) => e.on("group", (g) => void (g.joined && joins.push(g.epoch))) });
    await alice.e.send(conv, "and again");
    await until(() => texts(again, conv).includes("and again"));
    expect(texts(again, conv)).toEqual(["and again"]);
    expect(joins).toEqual([]);
  });
});

describe("files and safety numbers", () => {
  test("a file goes encrypted: the server stores ciphertext and makes no thumbnail; members decrypt it", async () => {
    const { conv, all } = await group("file", ["a", "b"], 1);
    const [a, b] = all;
    const data = te.encode("a secret document ".repeat(100));
    await a!.e.sendFile(conv, data, { contentType: "text/plain", name: "doc.txt", caption: "the doc", thumbnail: { data: new Uint8Array([1, 2, 3]), contentType: "image/png" } });
    await until(() => b!.got.some((m) => m.file));
    const m = b!.got.find((x) => x.file)!;
    expect(m.kind).toBe(MessageKind.Media);
    expect(new TextDecoder().decode(m.body)).toBe("the doc");
    expect(m.file!.name).toBe("doc.txt");
    expect(m.file!.thumbnail!.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(await b!.e.downloadFile(m.file!)).toEqual(data);
    const rec = await h.embedded.node.ctx.metadata.getMedia(m.file!.media);
    expect(rec).toMatchObject({ contentType: "application/octet-stream", conv, thumb: null });
    const { url } = await b!.e.client.mediaUrl(m.file!.media);
    const stored = new Uint8Array(await (await fetch(url)).arrayBuffer());
    expect(contains(stored, te.encode("a secret document"))).toBe(false);
  });

  test("safety numbers: the same 60 digits on both sides, changed when a device joins", async () => {
    const alice = await secure(h, "sn-alice", "sn-alice-1");
    const bob = await secure(h, "sn-bob", "sn-bob-1");
    const conv = (await alice.e.client.openDirect("sn-bob")).id;
    await alice.e.encrypt(conv);
    await sameEpoch([alice, bob], conv);
    const a = await alice.e.safetyNumber(conv, "sn-bob");
    expect(a).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(await bob.e.safetyNumber(conv, "sn-alice")).toBe(a);
    const laptop = await secure(h, "sn-bob", "sn-bob-2");
    await sameEpoch([alice, bob, laptop], conv, 2);
    const b = await alice.e.safetyNumber(conv, "sn-bob");
    expect(b).not.toBe(a);
    expect(await laptop.e.safetyNumber(conv, "sn-alice")).toBe(b);
    expect(alice.e.fingerprint(conv, "sn-bob").map((k) => k.device).sort()).toEqual(["sn-bob-1", "sn-bob-2"]);
  });
});
