// Storage interfaces of end-to-end encryption (src/e2ee): the MLS delivery service's state.
// KeyPackages waiting to be claimed, and each conversation's MLS group as the server tracks it
// (group id, epoch, the commit that started the epoch, who holds each leaf). One class per
// metadata backend (SQLite, PostgreSQL) implements both roles on the metadata database, where the
// devices table answers which devices are revoked. One contract suite
// (test/contract/e2ee-store.contract.ts) runs on both. None of this is secret: KeyPackages and
// commits are public MLS objects; the group's secrets never reach the server.

import type { DeviceRef } from "../proto/types.ts";

export interface NewKeyPackage {
  /** Hex SHA-256 of `body`: the package's id on the server. */
  ref: string;
  /** The MLSMessage (mls_key_package) as uploaded. */
  body: Uint8Array;
  /** The package's lifetime.not_after, in ms: it is never handed out after that. */
  expiresAt: number;
}

export interface KeyPackageStock {
  /** Claimable packages, not expired at the time asked, the last-resort one not counted. */
  count: number;
  /** Whether an unexpired last-resort package is stored. */
  lastResort: boolean;
}

export interface ClaimedPackage extends DeviceRef {
  body: Uint8Array;
  lastResort: boolean;
}

/** A device as the group rules need it. */
export interface DeviceState extends DeviceRef {
  revoked: boolean;
  /** It holds an unexpired KeyPackage (a claimable or a last-resort one): it can be added to a group. */
  claimable: boolean;
}

/** Too many claimable packages for one device: nothing was written. */
export class KeyPackageLimitError extends Error {
  constructor(readonly max: number) {
    super(`a device keeps at most ${max} KeyPackages`);
  }
}

export interface KeyPackageStore {
  /**
   * Stores a device's packages (a ref already stored is skipped) and, when given, its last-resort
   * package, which replaces the one before. Throws KeyPackageLimitError, writing nothing, if the
   * device would hold more than `max` unexpired claimable packages. Returns the stock after.
   */
  addKeyPackages(user: string, device: string, packages: NewKeyPackage[], lastResort: NewKeyPackage | null, max: number, nowMs: number): Promise<KeyPackageStock>;
  keyPackageStock(user: string, device: string, nowMs: number): Promise<KeyPackageStock>;
  /**
   * One package for each device: its oldest unexpired claimable one, deleted as it is taken, or
   * else its last-resort one, which stays. Devices with neither are left out. Of concurrent claims
   * (from any node), no two get the same claimable package.
   */
  claimKeyPackages(devices: DeviceRef[], nowMs: number): Promise<ClaimedPackage[]>;
  /** Every device of these users that ever connected. */
  deviceStates(users: string[], nowMs: number): Promise<DeviceState[]>;
  /** Deletes packages expired at `nowMs`; returns how many. */
  pruneKeyPackages(nowMs: number): Promise<number>;
}

/** An MlsCommit message accepted but not yet stored in the message store. */
export interface PendingCommit {
  from: string;
  dev: string;
  cid: string;
  body: Uint8Array;
  /** The ratchet tree uploaded as media, when the commit carries it that way. */
  media: string | null;
}

export interface MlsGroupRecord {
  conv: string;
  groupId: Uint8Array;
  epoch: number;
  /** Seq of the MlsCommit message that started `epoch`; 0 while it is being stored. */
  commitSeq: number;
  /** Hex SHA-256 of that commit. */
  commitHash: string;
  /** That message while commitSeq is 0. */
  pending: PendingCommit | null;
  /** By leaf index; null for a blank leaf. */
  leaves: (DeviceRef | null)[];
}

export interface MlsGroupNext {
  groupId: Uint8Array;
  epoch: number;
  commitHash: string;
  pending: PendingCommit;
  leaves: (DeviceRef | null)[];
}

export interface MlsGroupStore {
  getGroup(conv: string): Promise<MlsGroupRecord | null>;
  /**
   * Moves the conversation's group to `next` if it is still at epoch `from` (null: the
   * conversation has no group yet, and this founds it), with commitSeq 0 and `next.pending` kept
   * until committed() records the seq. False, changing nothing, when another commit got there
   * first: of concurrent calls for one epoch, from any node, exactly one succeeds.
   */
  advanceGroup(conv: string, from: number | null, next: MlsGroupNext): Promise<boolean>;
  /** Records that the commit of `epoch` was stored at `seq`, and drops its pending copy; nothing if the group has moved on. */
  committed(conv: string, epoch: number, seq: number): Promise<void>;
  /** The conversations whose group has a leaf held by this device. */
  groupsWithDevice(user: string, device: string): Promise<string[]>;
}

export type E2eeStore = KeyPackageStore & MlsGroupStore;
