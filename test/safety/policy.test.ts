// The privacy and blocking rules (src/safety/policy.ts), as pure functions of the facts.

import { describe, expect, test } from "bun:test";
import type { ReceiptEvent } from "../../src/bus/events.ts";
import type { PrivacySettings, Visibility } from "../../src/proto/types.ts";
import { admits, HIDDEN, maskPresence, mayAdd, presenceMask, presencePush, readsHidden, receiptFor, SHOWN, type Relation } from "../../src/safety/policy.ts";
import { DEFAULT_PRIVACY } from "../../src/storage/safety-types.ts";

const none: Relation = { listed: false, chose: false };
const listed: Relation = { listed: true, chose: false };
const chose: Relation = { listed: false, chose: true };
const settings = (over: Partial<PrivacySettings> = {}): PrivacySettings => ({ ...DEFAULT_PRIVACY, ...over });

describe("admits", () => {
  test("everyone needs a relation (a contact, or a conversation the owner chose); contacts needs the contact list; nobody admits no one", () => {
    const table: [Visibility, Relation, boolean][] = [
      ["everyone", none, false],
      ["everyone", listed, true],
      ["everyone", chose, true],
      ["contacts", chose, false],
      ["contacts", listed, true],
      ["nobody", { listed: true, chose: true }, false],
    ];
    for (const [level, rel, want] of table) expect({ level, rel, got: admits(level, rel) }).toEqual({ level, rel, got: want });
  });
});

describe("presence", () => {
  const facts = (over: Partial<Parameters<typeof presenceMask>[0]> = {}) => ({
    viewer: settings(),
    target: settings(),
    blocked: false,
    targetToViewer: chose,
    viewerToTarget: chose,
    ...over,
  });

  test("shown when both sides' settings admit each other", () => {
    expect(presenceMask(facts())).toEqual(SHOWN);
  });

  test("reciprocal: the viewer's own setting must admit the target too, field by field", () => {
    expect(presenceMask(facts({ viewer: settings({ online: "nobody" }) }))).toEqual({ online: false, lastSeen: true });
    expect(presenceMask(facts({ viewer: settings({ lastSeen: "contacts" }) }))).toEqual({ online: true, lastSeen: false });
    expect(presenceMask(facts({ viewer: settings({ lastSeen: "contacts" }), viewerToTarget: listed }))).toEqual(SHOWN);
  });

  test("the target's setting, field by field", () => {
    expect(presenceMask(facts({ target: settings({ online: "contacts" }) }))).toEqual({ online: false, lastSeen: true });
    expect(presenceMask(facts({ target: settings({ online: "contacts" }), targetToViewer: listed }))).toEqual(SHOWN);
    expect(presenceMask(facts({ target: settings({ lastSeen: "nobody" }), targetToViewer: { listed: true, chose: true } }))).toEqual({ online: true, lastSeen: false });
  });

  test("a conversation only the viewer chose (being put into it) reveals nothing", () => {
    expect(presenceMask(facts({ targetToViewer: none }))).toEqual(HIDDEN);
  });

  test("a block either way hides everything", () => {
    expect(presenceMask(facts({ blocked: true, targetToViewer: { listed: true, chose: true } }))).toEqual(HIDDEN);
  });

  test("states and pushes as the viewer may see them", () => {
    const on = { user: "t", online: true, lastSeen: 0 };
    const off = { user: "t", online: false, lastSeen: 1234 };
    expect(maskPresence(off, SHOWN)).toEqual(off);
    expect(maskPresence(on, HIDDEN)).toEqual({ user: "t", online: false, lastSeen: 0 });
    expect(maskPresence(off, { online: true, lastSeen: false })).toEqual({ user: "t", online: false, lastSeen: 0 });
    expect(presencePush(on, SHOWN)).toEqual(on);
    expect(presencePush(on, { online: false, lastSeen: true })).toBeNull();
    expect(presencePush(off, { online: false, lastSeen: true })).toEqual(off);
    expect(presencePush(off, { online: true, lastSeen: false })).toEqual({ user: "t", online: false, lastSeen: 0 });
    expect(presencePush(off, HIDDEN)).toBeNull();
  });
});

describe("group additions", () => {
  test("everyone: anyone adds; contacts: only contacts; nobody: always an invitation", () => {
    expect(mayAdd(settings({ groupAdd: "everyone" }), false)).toBe(true);
    expect(mayAdd(settings({ groupAdd: "contacts" }), false)).toBe(false);
    expect(mayAdd(settings({ groupAdd: "contacts" }), true)).toBe(true);
    expect(mayAdd(settings({ groupAdd: "nobody" }), true)).toBe(false);
  });
});

describe("read receipts", () => {
  test("off on either side hides reads both ways", () => {
    expect(readsHidden(settings(), settings())).toBe(false);
    expect(readsHidden(settings({ readReceipts: false }), settings())).toBe(true);
    expect(readsHidden(settings(), settings({ readReceipts: false }))).toBe(true);
  });

  test("a hidden receipt shows the receiver only their own read marker", () => {
    const e: ReceiptEvent = { t: "receipt", origin: 0, conv: "c", user: "a", dev: "a1", delivered: 5, read: 4, to: ["a", "b"], deliveredMin: [5, "a", 5], readMin: [4, "a", 4] };
    const body = { conv: "c", user: "a", delivered: 5, read: 4, allDelivered: 5, allRead: 4 };
    expect(receiptFor("b", e, body)).toEqual(body);
    expect(receiptFor("b", { ...e, hideRead: true }, body)).toEqual({ ...body, read: 0, allRead: 0 });
    expect(receiptFor("a", { ...e, hideRead: true }, body)).toEqual({ ...body, allRead: 0 });
  });
});
