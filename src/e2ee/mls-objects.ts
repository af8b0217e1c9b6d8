// The MLS objects the delivery service reads, decoded and checked with ts-mls: KeyPackages
// (uploaded, and inside the Add proposals of commits), commits (PublicMessages, so the server can
// see who they add and remove) and Welcomes. Everything here refuses with InvalidMls (1108) and a
// message saying what is wrong; nothing is trusted before it has been checked.
//
// What a server without the group's secrets cannot check, and members do: a commit's signature
// and membership tag (they cover the group's context, which only members have), its
// confirmation tag, and whether the Welcome's contents are right.

import {
  decodeMlsMessage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type KeyPackage,
  type MLSMessage,
} from "ts-mls";
import { makeKeyPackageRef, verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { ErrorCode } from "../proto/codes.ts";
import { CommandError } from "../proto/command-error.ts";
import { equalBytes, MLS_CIPHERSUITE, parseIdentity } from "../proto/mls.ts";
import type { DeviceRef } from "../proto/types.ts";

/** How far a KeyPackage's not_before may lie ahead of the server's clock (clients' clocks drift). */
const CLOCK_SKEW_S = 300n;

export const invalid = (message: string) => new CommandError(ErrorCode.InvalidMls, message);

let suite: Promise<CiphersuiteImpl> | undefined;
/** msgr's ciphersuite, made once (WebCrypto keys and hashes). */
export function ciphersuite(): Promise<CiphersuiteImpl> {
  return (suite ??= getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE)));
}

/** Decodes one MLSMessage that fills `bytes` exactly. */
function decode(bytes: Uint8Array, what: string): MLSMessage {
  let out: [MLSMessage, number] | undefined;
  try {
    out = decodeMlsMessage(bytes, 0);
  } catch {
    out = undefined;
  }
  if (!out) throw invalid(`${what}: not an MLSMessage`);
  if (out[1] !== bytes.length) throw invalid(`${what}: trailing bytes after the MLSMessage`);
  if (out[0].version !== "mls10") throw invalid(`${what}: not MLS 1.0`);
  return out[0];
}

export interface CheckedKeyPackage {
  keyPackage: KeyPackage;
  /** The device its credential names. */
  owner: DeviceRef;
  /** lifetime.not_after in ms (capped at the largest safe integer). */
  expiresAt: number;
  /** Its KeyPackageRef (RFC 9420 §5.2): how a Welcome names the member it is for. */
  ref: Uint8Array;
}

/** A KeyPackage as msgr accepts it: msgr's ciphersuite, a basic credential naming a device, in its lifetime, validly signed. */
export async function checkKeyPackage(kp: KeyPackage, nowMs: number, what: string): Promise<CheckedKeyPackage> {
  const cs = await ciphersuite();
  if (kp.version !== "mls10") throw invalid(`${what}: not MLS 1.0`);
  if (kp.cipherSuite !== MLS_CIPHERSUITE) throw invalid(`${what}: ciphersuite ${String(kp.cipherSuite)} is not ${MLS_CIPHERSUITE}`);
  const leaf = kp.leafNode;
  if (leaf.leafNodeSource !== "key_package") throw invalid(`${what}: its leaf node is not a KeyPackage's`);
  if (leaf.credential.credentialType !== "basic") throw invalid(`${what}: only basic credentials are accepted`);
  const owner = parseIdentity(leaf.credential.identity);
  if (!owner) throw invalid(`${what}: the credential's identity must be "<user>/<device>"`);
  if (!leaf.capabilities.ciphersuites.includes(MLS_CIPHERSUITE)) throw invalid(`${what}: its capabilities leave out ${MLS_CIPHERSUITE}`);
  const now = BigInt(Math.floor(nowMs / 1000));
  const { notBefore, notAfter } = leaf.lifetime;
  if (notAfter <= now) throw invalid(`${what}: expired`);
  if (notBefore > now + CLOCK_SKEW_S) throw invalid(`${what}: not valid yet`);
  if (equalBytes(kp.initKey, leaf.hpkePublicKey)) throw invalid(`${what}: its init key and encryption key are the same`);
  if (!(await verifyKeyPackage(kp, cs.signature)) || !(await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature))) throw invalid(`${what}: bad signature`);
  const expiresAt = notAfter * 1000n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(notAfter * 1000n);
  return { keyPackage: kp, owner, expiresAt, ref: await makeKeyPackageRef(kp, cs.hash) };
}

/** An uploaded KeyPackage: an MLSMessage of wire format mls_key_package. */
export async function readKeyPackage(bytes: Uint8Array, nowMs: number, what: string): Promise<CheckedKeyPackage> {
  const m = decode(bytes, what);
  if (m.wireformat !== "mls_key_package") throw invalid(`${what}: not a KeyPackage`);
  return checkKeyPackage(m.keyPackage, nowMs, what);
}

/** A commit as the server reads it. */
export interface ReadCommit {
  groupId: Uint8Array;
  epoch: number;
  /** The committer's leaf. */
  sender: number;
  /** Leaves it removes. */
  removes: number[];
  /** KeyPackages it adds, checked. */
  adds: CheckedKeyPackage[];
  /** The committer's new leaf node's identity, when the commit has a path. */
  pathOwner: DeviceRef | null;
}

/**
 * A commit msgr relays: a PublicMessage (so the server sees its proposals) from a member, whose
 * proposals are inline Adds and Removes only.
 */
export async function readCommit(bytes: Uint8Array, nowMs: number): Promise<ReadCommit> {
  const m = decode(bytes, "commit");
  if (m.wireformat !== "mls_public_message") throw invalid("commit: must be a PublicMessage (the server checks whom it adds and removes)");
  const { content } = m.publicMessage;
  if (content.contentType !== "commit") throw invalid("commit: not a commit (proposals are sent inside commits)");
  if (content.sender.senderType !== "member") throw invalid("commit: external commits are not accepted; a member adds each device");
  if (content.epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid("commit: epoch out of range");
  const removes: number[] = [];
  const adds: CheckedKeyPackage[] = [];
  for (const [i, p] of content.commit.proposals.entries()) {
    if (p.proposalOrRefType !== "proposal") throw invalid("commit: proposals must be inline, not by reference");
    const { proposal } = p;
    if (proposal.proposalType === "remove") removes.push(proposal.remove.removed);
    else if (proposal.proposalType === "add") adds.push(await checkKeyPackage(proposal.add.keyPackage, nowMs, `commit: proposal ${i}`));
    else throw invalid(`commit: proposal ${i}: only add and remove proposals are accepted`);
  }
  let pathOwner: DeviceRef | null = null;
  const path = content.commit.path;
  if (path) {
    const cred = path.leafNode.credential;
    pathOwner = cred.credentialType === "basic" ? parseIdentity(cred.identity) : null;
    if (!pathOwner) throw invalid("commit: the path's leaf node must carry a basic credential naming a device");
  }
  return { groupId: content.groupId, epoch: Number(content.epoch), sender: content.sender.leafIndex, removes, adds, pathOwner };
}

/** Checks that `bytes` is a Welcome of msgr's ciphersuite for exactly the KeyPackages `adds`. */
export function checkWelcome(bytes: Uint8Array, adds: CheckedKeyPackage[]): void {
  const m = decode(bytes, "welcome");
  if (m.wireformat !== "mls_welcome") throw invalid("welcome: not a Welcome");
  if (m.welcome.cipherSuite !== MLS_CIPHERSUITE) throw invalid("welcome: another ciphersuite");
  const wanted = adds.map((a) => a.ref);
  const named = m.welcome.secrets.map((s) => s.newMember);
  if (named.length !== wanted.length || !wanted.every((r) => named.some((n) => equalBytes(n, r)))) {
    throw invalid("welcome: it must welcome exactly the KeyPackages the commit adds");
  }
}
