// Rows a server from before the safety tables left (migration 0004), and what migrations
// 0005/0006 must make of them: shared by the SQLite and PostgreSQL migration tests.

import { expect } from "bun:test";
import type { SafetyStore } from "../../src/storage/safety-types.ts";

export const SAFETY_BACKFILL_FIXTURE = [
  `INSERT INTO devices ("user", device, first_seen, last_seen) VALUES ('alice', 'phone', 2000, 9000), ('alice', 'laptop', 1000, 9000), ('bob', 'phone', 3000, 9000)`,
  `INSERT INTO conversations (id, type, title, created_by, created_at) VALUES ('g1', 2, 'team', 'alice', 100), ('d1', 1, '', 'bob', 200), ('d2', 1, '', 'dave', 300)`,
  `INSERT INTO members (conv_id, "user", admin, joined_seq) VALUES ('g1', 'alice', true, 1), ('g1', 'bob', false, 1), ('g1', 'carol', false, 1),
     ('d1', 'alice', false, 1), ('d1', 'bob', false, 1), ('d2', 'dave', false, 1), ('d2', 'erin', false, 1)`,
  // Carol wrote in the group; Bob's only message there is a system message (kind 3), which is no choice of his.
  `INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts) VALUES
     ('g1', 1, 1, 'alice', '', '', 3, '', 500), ('g1', 2, 2, 'carol', 'c', 'x1', 1, '', 600), ('g1', 3, 3, 'bob', '', '', 3, '', 700)`,
];

export async function expectSafetyBackfilled(safety: SafetyStore): Promise<void> {
  expect(await safety.getUser("alice")).toMatchObject({ createdAt: 1000, origin: "login", bannedAt: null });
  expect(await safety.getUser("bob")).toMatchObject({ createdAt: 3000, origin: "login" });
  // Carol never authenticated: she is a member, not a registered user.
  expect(await safety.knownUsers(["alice", "bob", "carol"])).toEqual(new Set(["alice", "bob"]));
  // Chose: alice (created g1), bob (opened d1), carol (wrote in g1), dave (opened d2).
  expect(await safety.sharedByChoice("bob", ["alice", "carol"], "other")).toEqual(new Set(["alice", "carol"]));
  expect(await safety.sharedByChoice("carol", ["bob"], "other")).toEqual(new Set());
  expect(await safety.sharedByChoice("alice", ["bob"], "other")).toEqual(new Set(["bob"]));
  expect(await safety.sharedByChoice("dave", ["erin"], "user")).toEqual(new Set(["erin"]));
  expect(await safety.sharedByChoice("dave", ["erin"], "other")).toEqual(new Set());
}
