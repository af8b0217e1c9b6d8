// MessageView reads a page in two shapes: messages (commands) and frames (the backlog a resume
// streams). Both must say the same thing, removed, expired and missing messages included, over a
// store that keeps frames (SQLite) and over one read through range() (every other backend).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/clock.ts";
import { HiddenFilter } from "../../src/lifecycle/hidden-filter.ts";
import { MessageView } from "../../src/lifecycle/message-view.ts";
import { FRAME_ROWS, MESSAGE_ROWS } from "../../src/lifecycle/page-rows.ts";
import { MessageKind } from "../../src/proto/codes.ts";
import { messageOfFrame } from "../../src/proto/message-frame.ts";
import { RemovedMessages } from "../../src/safety/removed-messages.ts";
import { openSqlite, type SqliteBackend } from "../../src/storage/sqlite/db.ts";
import type { MessageStore, StoredFrame } from "../../src/storage/types.ts";
import { message } from "../contract/message-store.contract.ts";

const T0 = 1_700_000_000_000;

/** The same store with only the methods every backend has: MessageView reads it through range(). */
function rangeOnly(s: MessageStore): MessageStore {
  return {
    prunes: s.prunes,
    append: (m, o) => s.append(m, o),
    lastSeq: (c) => s.lastSeq(c),
    firstRetainedSeq: (c) => s.firstRetainedSeq(c),
    range: (c, a, l) => s.range(c, a, l),
    history: (c, b, l) => s.history(c, b, l),
    lastSeqBySender: (c) => s.lastSeqBySender(c),
    pruneBefore: (t) => s.pruneBefore(t),
    rewrite: (m) => s.rewrite(m),
    pruneExpired: (t) => s.pruneExpired(t),
    flush: () => s.flush(),
    close: () => s.close(),
  };
}

const decoded = (frames: StoredFrame[]) => frames.map((f) => messageOfFrame(f.frame));

for (const kind of ["a store that keeps frames", "a store read through range()"] as const) {
  describe(`MessageView over ${kind}`, () => {
    let backend: SqliteBackend;
    let view: MessageView;
    let clock: ManualClock;

    beforeEach(async () => {
      backend = openSqlite({ path: ":memory:", synchronous: "normal" });
      clock = new ManualClock(T0);
      // Six messages: 2 removed by a moderator, 3 disappearing (expired by the time of reading),
      // 4 disappearing and already deleted by the sweep (a hole), 5 hidden by bob, 6 plain.
      for (let n = 1; n <= 6; n++) {
        const exp = n === 3 ? T0 + 1_500 : n === 4 ? T0 + 500 : undefined;
        await backend.messages.append(message("c1", n, exp === undefined ? {} : { exp }));
      }
      await backend.safety.removeMessage({ conv: "c1", seq: 2, sender: "alice", media: null, by: "admin", reason: "spam", at: T0 });
      expect(await backend.messages.pruneExpired(T0 + 1_000)).toBe(1);
      await backend.metadata.hideMessages("bob", "c1", [5], T0);
      clock.advance(2_000);
      const removed = new RemovedMessages(backend.safety);
      await removed.start();
      view = new MessageView(kind === "a store that keeps frames" ? backend.messages : rangeOnly(backend.messages), removed, clock);
    });
    afterEach(() => backend.close());

    test("frames are the encoded messages of range, tombstones and placeholders included", async () => {
      const messages = await view.range("c1", 0, 10);
      expect(messages.map((m) => [m.seq, m.kind])).toEqual([
        [1, 1],
        [2, MessageKind.Removed],
        [3, MessageKind.Removed],
        [4, MessageKind.Removed],
        [5, 1],
        [6, 1],
      ]);
      const frames = await view.frames("c1", 0, 10);
      expect(decoded(frames)).toEqual(messages);
      expect(frames.map((f) => [f.seq, f.kind, f.exp])).toEqual(messages.map((m) => [m.seq, m.kind, m.exp ?? null]));
      // A page in the middle, and one that ends before the conversation does.
      expect(decoded(await view.frames("c1", 1, 3))).toEqual(await view.range("c1", 1, 3));
      expect(decoded(await view.frames("c1", 4, 10))).toEqual(await view.range("c1", 4, 10));
    });

    test("a reader's hidden messages are tombstones in both shapes, for that reader only", async () => {
      const bob = new HiddenFilter("bob", backend.metadata);
      const asMessages = await bob.apply("c1", await view.range("c1", 0, 10), MESSAGE_ROWS);
      const asFrames = await bob.apply("c1", await view.frames("c1", 0, 10), FRAME_ROWS);
      expect(decoded(asFrames)).toEqual(asMessages);
      expect(asMessages.find((m) => m.seq === 5)).toMatchObject({ kind: MessageKind.Removed, from: "alice", body: new Uint8Array(0) });
      const carol = new HiddenFilter("carol", backend.metadata);
      expect((await carol.apply("c1", await view.frames("c1", 0, 10), FRAME_ROWS)).find((f) => f.seq === 5)!.kind).toBe(1);
    });
  });
}
