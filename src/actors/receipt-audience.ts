// Who is told that a member's receipt markers moved (docs/protocol.md §9.2). One home for the
// rule, shared by the conversation actor's announcement and its correction after a race.
//
// A member's own marker is not news to the other members (CONV_GET has every member's markers);
// what their ticks show is the "all but me" aggregates. So an announcement goes to the member's
// own devices, and to the senders whose aggregates it raised. In a group of 256 under steady
// traffic every receipt covers every sender's messages, while the aggregates move a few times per
// receipt window: telling every sender of every receipt cost the server (and each sender's
// device) a push per member per window.

import type { LowestTwo } from "../bus/events.ts";

/** The lowest delivered and read markers among members, as `LowestMarkers.lowestTwo` gives them. */
export interface Minimums {
  delivered: LowestTwo;
  read: LowestTwo;
}

/** The "all but me" aggregate `user` sees: the lowest marker among the other members. */
export function allBut(lowest: LowestTwo, user: string): number {
  return lowest[1] === user ? lowest[2] : lowest[0];
}

function raised(user: string, before: Minimums, after: Minimums): boolean {
  return allBut(before.delivered, user) !== allBut(after.delivered, user) || allBut(before.read, user) !== allBut(after.read, user);
}

/**
 * The users told of `reader`'s markers moving from `readerBefore` (the marker the receipt named):
 * the reader, and each member who sent a message above that marker and whose aggregates moved
 * from `before` to `after`. `lastSentBy` maps senders to their latest seq.
 */
export function receiptAudience(
  reader: string,
  readerBefore: number,
  lastSentBy: ReadonlyMap<string, number>,
  isMember: (user: string) => boolean,
  before: Minimums,
  after: Minimums,
): string[] {
  const to = [reader];
  for (const [sender, last] of lastSentBy) {
    if (sender !== reader && last > readerBefore && isMember(sender) && raised(sender, before, after)) to.push(sender);
  }
  return to;
}

/**
 * The users told when a node announces an announcement `to` again with the higher minimums it
 * knows (`corrected`, against the `announced` ones): the same users, and every sender whose
 * aggregates that raises. Two receipts announced by two nodes at once can each leave a sender's
 * aggregate where it was as that node saw it, though the two together moved it.
 */
export function correctionAudience(
  to: readonly string[],
  senders: Iterable<string>,
  isMember: (user: string) => boolean,
  announced: Minimums,
  corrected: Minimums,
): string[] {
  const out = [...to];
  for (const sender of senders) if (!out.includes(sender) && isMember(sender) && raised(sender, announced, corrected)) out.push(sender);
  return out;
}
