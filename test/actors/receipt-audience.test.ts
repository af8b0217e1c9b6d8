// Who is told of a member's moved markers (src/actors/receipt-audience.ts), with the markers kept
// as the conversation actor keeps them: one LowestMarkers per marker, per node.

import { describe, expect, test } from "bun:test";
import { LowestMarkers } from "../../src/actors/lowest-markers.ts";
import { allBut, correctionAudience, receiptAudience, type Minimums } from "../../src/actors/receipt-audience.ts";

const LAST_SEQ = 5;

/** One node's view of a conversation's markers. */
class View {
  readonly delivered = new LowestMarkers();
  readonly read = new LowestMarkers();
  constructor(markers: Record<string, [delivered: number, read: number]>) {
    for (const [user, [d, r]] of Object.entries(markers)) this.set(user, d, r);
  }
  set(user: string, delivered: number, read: number): void {
    this.delivered.set(user, delivered);
    this.read.set(user, read);
  }
  mins(): Minimums {
    return { delivered: this.delivered.lowestTwo(LAST_SEQ), read: this.read.lowestTwo(LAST_SEQ) };
  }
}

const members = new Set(["sam", "mia", "max"]);
const isMember = (u: string) => members.has(u);
/** Sam sent message 5; Mia and Max have sent nothing. */
const lastSentBy = new Map([["sam", 5]]);
/** Sam's own markers are at his message; Mia and Max have not acknowledged it. */
const start = (): View => new View({ sam: [5, 5], mia: [0, 0], max: [0, 0] });

/** Moves `user`'s markers on `view` and returns who is told. */
function receipt(view: View, user: string, before: number, delivered: number, read: number): string[] {
  const b = view.mins();
  view.set(user, delivered, read);
  return receiptAudience(user, before, lastSentBy, isMember, b, view.mins());
}

describe("receipt audience", () => {
  test("a sender is told when the receipt raises what their ticks show, not of every member's marker", () => {
    const v = start();
    // Mia has it, Max not yet: "delivered to all but Sam" stays 0, so only Mia's own devices hear.
    expect(receipt(v, "mia", 0, 5, 0)).toEqual(["mia"]);
    expect(allBut(v.mins().delivered, "sam")).toBe(0);
    // Max has it too: Sam's two ticks.
    expect(receipt(v, "max", 0, 5, 0)).toEqual(["max", "sam"]);
    expect(allBut(v.mins().delivered, "sam")).toBe(5);
    // Read works the same way, one marker at a time.
    expect(receipt(v, "max", 0, 5, 5)).toEqual(["max"]);
    expect(receipt(v, "mia", 0, 5, 5)).toEqual(["mia", "sam"]);
    expect(allBut(v.mins().read, "sam")).toBe(5);
  });

  test("a sender with nothing above the reader's previous marker is not told", () => {
    const v = new View({ sam: [5, 5], mia: [3, 0], max: [5, 0] });
    const older = new Map([["sam", 3]]);
    const b = v.mins();
    v.set("mia", 5, 0);
    expect(receiptAudience("mia", 3, older, isMember, b, v.mins())).toEqual(["mia"]);
  });

  test("two receipts announced by two nodes at once: the correction tells the sender neither told", () => {
    const node1 = start();
    const node2 = start();
    // Mia's receipt on node 1 and Max's on node 2, each before hearing of the other.
    const miaMins = node1.mins();
    node1.set("mia", 5, 0);
    const miaTo = receiptAudience("mia", 0, lastSentBy, isMember, miaMins, node1.mins());
    const miaAnnounced = node1.mins();
    const maxMins = node2.mins();
    node2.set("max", 5, 0);
    const maxTo = receiptAudience("max", 0, lastSentBy, isMember, maxMins, node2.mins());
    const maxAnnounced = node2.mins();
    // As each node saw it, Sam's aggregate did not move: neither announcement goes to him.
    expect(miaTo).toEqual(["mia"]);
    expect(maxTo).toEqual(["max"]);
    expect(allBut(miaAnnounced.delivered, "sam")).toBe(0);
    expect(allBut(maxAnnounced.delivered, "sam")).toBe(0);
    // Each node hears the other's and knows more than it announced: its correction reaches Sam.
    node1.set("max", 5, 0);
    node2.set("mia", 5, 0);
    expect(correctionAudience(maxTo, lastSentBy.keys(), isMember, maxAnnounced, node1.mins())).toEqual(["max", "sam"]);
    expect(correctionAudience(miaTo, lastSentBy.keys(), isMember, miaAnnounced, node2.mins())).toEqual(["mia", "sam"]);
    expect(allBut(node1.mins().delivered, "sam")).toBe(5);
  });

  test("a correction keeps its audience and adds no one whose aggregates it leaves alone", () => {
    const v = new View({ sam: [5, 5], mia: [5, 0], max: [5, 0] });
    const announced = v.mins();
    v.set("mia", 5, 3);
    // Only the read minimum rose, from 0 to 0 as Sam sees it (Max is still at 0).
    expect(correctionAudience(["mia"], lastSentBy.keys(), isMember, announced, v.mins())).toEqual(["mia"]);
  });
});
