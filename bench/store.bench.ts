// Store micro-benchmark: embedded (SQLite) store lookups made per message or per resuming device,
// measured per call on a populated database. A message to a member with no device online asks
// who muted the conversation and the member's push subscriptions (src/push/notifier.ts); a
// device resuming a backlog asks in which conversations its user hid messages
// (src/lifecycle/hidden-filter.ts); a node meeting a user for the first time reads their
// privacy settings and block list (src/safety/safety.ts caches them); a conversation actor
// starting reads the conversation and its members. Medians of several rounds.
// Run: bun bench/store.bench.ts

import { openSqlite } from "../src/storage/sqlite/db.ts";

const USERS = 1_000;
const N = 20_000;
const ROUNDS = 7;

const store = openSqlite({ path: ":memory:", synchronous: "normal" });
const { metadata, safety } = store;
const now = Date.now();
for (let i = 0; i < USERS; i++) {
  await metadata.savePushSubscription({ user: `u${i}`, device: "phone", endpoint: `https://push.example/${i}`, p256dh: "p".repeat(87), auth: "a".repeat(22), createdAt: now });
  // A tenth of them muted the conversation, and hid three of its messages for themselves.
  if (i % 10 === 0) await metadata.saveChatSettings(`u${i}`, { conv: "c1", muteUntil: now + 3_600_000, archived: false, pinned: false, unread: false });
  if (i % 10 === 0) await metadata.hideMessages(`u${i}`, "c1", [1, 2, 3], now);
  // And set their privacy, and blocked two others.
  if (i % 10 === 0) await safety.setPrivacy(`u${i}`, { lastSeen: "contacts", online: "contacts", groupAdd: "everyone", readReceipts: false });
  if (i % 10 === 0) for (const other of [i + 1, i + 2]) await safety.block(`u${i}`, `u${other}`, now, 1_000);
}

// A group of 64 for the conversation actor's start.
await metadata.createConversation(
  { id: "g1", type: 2, title: "group", createdBy: "u0", createdAt: now },
  Array.from({ length: 64 }, (_, k) => ({ user: `u${k}`, admin: k === 0, joinedSeq: 1, delivered: 0, read: 0 })),
);

async function microsPerCall(fn: (i: number) => Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = Bun.nanoseconds();
    for (let i = 0; i < N; i++) await fn(i);
    rounds.push((Bun.nanoseconds() - t) / 1e3 / N);
  }
  rounds.sort((a, b) => a - b);
  return rounds[ROUNDS >> 1]!;
}

const rows: [string, number][] = [
  ["mutedAmong (one member of a direct conversation)", await microsPerCall((i) => metadata.mutedAmong("c1", [`u${i % USERS}`], now))],
  ["mutedAmong (64 members of a group)", await microsPerCall((i) => metadata.mutedAmong("c1", Array.from({ length: 64 }, (_, k) => `u${(i + k) % USERS}`), now))],
  ["listPushSubscriptions", await microsPerCall((i) => metadata.listPushSubscriptions(`u${i % USERS}`))],
  ["hiddenConversations", await microsPerCall((i) => metadata.hiddenConversations(`u${i % USERS}`))],
  ["getPrivacy (one user)", await microsPerCall((i) => safety.getPrivacy([`u${i % USERS}`]))],
  ["listBlocked", await microsPerCall((i) => safety.listBlocked(`u${i % USERS}`))],
  ["getConversation + listMembers (64)", await microsPerCall(() => Promise.all([metadata.getConversation("g1"), metadata.listMembers("g1")]))],
];
console.log(`store bench, bun ${Bun.version}, SQLite in memory, ${USERS} users, ${N} calls x ${ROUNDS} rounds, median`);
for (const [name, us] of rows) console.log(`${name.padEnd(52)} ${us.toFixed(1).padStart(7)} µs per call`);
await store.close();
