// The pure parts of end-to-end encryption: the clear-text framing the server reads on every
// encrypted SEND (against what ts-mls writes), credential identities, and the roster rules.

import { describe, expect, test } from "bun:test";
import { createApplicationMessage, createGroup, defaultCapabilities, defaultLifetime, encodeMlsMessage, generateKeyPackage, getCiphersuiteFromName, getCiphersuiteImpl } from "ts-mls";
import { applyCommit, missingDevices, staleLeaves } from "../../src/e2ee/roster.ts";
import { ErrorCode } from "../../src/proto/codes.ts";
import { CommandError } from "../../src/proto/command-error.ts";
import { credentialIdentity, MLS_CIPHERSUITE, parseIdentity, readPrivateMessage } from "../../src/proto/mls.ts";

describe("the PrivateMessage framing", () => {
  test("reads the group, epoch, content type and sender data of what ts-mls writes, and refuses every truncation and extension", async () => {
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
    const kp = await generateKeyPackage({ credentialType: "basic", identity: credentialIdentity("u", "d") }, defaultCapabilities(), defaultLifetime, [], cs);
    const groupId = new Uint8Array(70).fill(7); // a two-byte length prefix
    const state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, [], cs);
    for (const size of [0, 1, 100, 20_000]) {
      const m = await createApplicationMessage(state, new Uint8Array(size), cs);
      const bytes = encodeMlsMessage({ privateMessage: m.privateMessage, wireformat: "mls_private_message", version: "mls10" });
      const h = readPrivateMessage(bytes)!;
      expect(h.groupId).toEqual(groupId);
      expect(h.epoch).toBe(0);
      expect(h.contentType).toBe(1);
      expect(h.senderData).toEqual(m.privateMessage.encryptedSenderData);
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 50))) expect(readPrivateMessage(bytes.subarray(0, cut))).toBeNull();
      expect(readPrivateMessage(new Uint8Array([...bytes, 0]))).toBeNull();
    }
    expect(readPrivateMessage(new Uint8Array([0, 1, 0, 1, 0]))).toBeNull(); // a PublicMessage
    expect(readPrivateMessage(new Uint8Array([0, 2, 0, 2, 0]))).toBeNull(); // another version
    expect(readPrivateMessage(new Uint8Array([0, 1, 0, 2, 0xc0]))).toBeNull(); // an invalid length prefix
  });

  test("credential identities name one device, and nothing else parses", () => {
    expect(parseIdentity(credentialIdentity("alice@example", "phone:1"))).toEqual({ user: "alice@example", device: "phone:1" });
    for (const bad of ["alice", "alice/", "/d", "a/b/c", "a b/c", ""]) expect(parseIdentity(new TextEncoder().encode(bad))).toBeNull();
    expect(parseIdentity(new Uint8Array([0xff, 0x2f, 0x61]))).toBeNull();
  });
});

describe("the roster rules", () => {
  const d = (user: string, device = "1") => ({ user, device });

  test("removes then adds; an add takes the leftmost blank leaf or a new one; trailing blanks go", () => {
    expect(applyCommit([d("a"), d("b"), d("c")], [1], [d("x"), d("y")])).toEqual([d("a"), d("x"), d("c"), d("y")]);
    expect(applyCommit([d("a"), d("b"), d("c")], [2, 1], [])).toEqual([d("a")]);
    expect(applyCommit([d("a"), null, d("c")], [], [d("b")])).toEqual([d("a"), d("b"), d("c")]);
    // The same device removed and added again in one commit (a new leaf for it) is fine.
    expect(applyCommit([d("a"), d("b")], [1], [d("b")])).toEqual([d("a"), d("b")]);
  });

  test("refuses removing a blank leaf and adding a device twice", () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 0;
      } catch (e) {
        return (e as CommandError).code;
      }
    };
    expect(code(() => applyCommit([d("a"), null], [1], []))).toBe(ErrorCode.InvalidMls);
    expect(code(() => applyCommit([d("a")], [5], []))).toBe(ErrorCode.InvalidMls);
    expect(code(() => applyCommit([d("a")], [], [d("a")]))).toBe(ErrorCode.Conflict);
    expect(code(() => applyCommit([d("a")], [], [d("b"), d("b")]))).toBe(ErrorCode.Conflict);
  });

  test("stale leaves are non-members' and revoked devices'; missing devices are members' with packages and no leaf", () => {
    const leaves = [d("a", "1"), d("a", "2"), d("b"), null, d("gone")];
    expect(staleLeaves(leaves, (u) => u !== "gone", new Set(["a/2"]))).toEqual([1, 4]);
    const states = [
      { ...d("a", "1"), revoked: false, claimable: true },
      { ...d("a", "3"), revoked: false, claimable: true },
      { ...d("a", "4"), revoked: true, claimable: true },
      { ...d("b", "2"), revoked: false, claimable: false },
      { ...d("c", "1"), revoked: false, claimable: true },
      { ...d("x", "1"), revoked: false, claimable: true },
    ];
    expect(missingDevices(leaves, ["a", "b", "c"], states)).toEqual([d("a", "3"), d("c", "1")]);
  });
});
