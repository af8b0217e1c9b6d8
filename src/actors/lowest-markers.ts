// The members of a conversation ordered by one receipt marker (delivered or read), lowest first:
// an indexed binary min-heap. Every receipt announces "everyone but me has reached" aggregates,
// which need only the lowest marker, its holder and the second lowest. A cache invalidated when one
// of the two lowest holders moved made a group's receipts cost O(members) each, O(members²) per
// message, since the lowest holders are exactly the ones about to move. Here a moved marker costs
// O(log members) and the answer is at the root.

import type { LowestTwo } from "../bus/events.ts";

export class LowestMarkers {
  private readonly users: string[] = [];
  private readonly values: number[] = [];
  /** Where each user sits in the two arrays. */
  private readonly at = new Map<string, number>();

  /** Sets `user`'s marker (adding the user when absent). */
  set(user: string, value: number): void {
    const i = this.at.get(user);
    if (i === undefined) {
      this.users.push(user);
      this.values.push(value);
      this.at.set(user, this.users.length - 1);
      this.up(this.users.length - 1);
      return;
    }
    const before = this.values[i]!;
    this.values[i] = value;
    if (value < before) this.up(i);
    else if (value > before) this.down(i);
  }

  delete(user: string): void {
    const i = this.at.get(user);
    if (i === undefined) return;
    this.at.delete(user);
    const lastUser = this.users.pop()!;
    const lastValue = this.values.pop()!;
    if (i === this.users.length) return;
    this.users[i] = lastUser;
    this.values[i] = lastValue;
    this.at.set(lastUser, i);
    this.up(i);
    this.down(this.at.get(lastUser)!);
  }

  clear(): void {
    this.users.length = 0;
    this.values.length = 0;
    this.at.clear();
  }

  /** The lowest marker, a holder of it, and the second lowest (equal to the lowest when two hold it); `empty` stands in for a missing one. */
  lowestTwo(empty: number): LowestTwo {
    const n = this.values.length;
    if (n === 0) return [empty, "", empty];
    const second = n === 1 ? empty : n === 2 ? this.values[1]! : Math.min(this.values[1]!, this.values[2]!);
    return [this.values[0]!, this.users[0]!, second];
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.values[parent]! <= this.values[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.values.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.values[right]! < this.values[left]! ? right : left;
      if (this.values[i]! <= this.values[child]!) return;
      this.swap(i, child);
      i = child;
    }
  }

  private swap(i: number, j: number): void {
    const u = this.users[i]!;
    const v = this.values[i]!;
    this.users[i] = this.users[j]!;
    this.values[i] = this.values[j]!;
    this.users[j] = u;
    this.values[j] = v;
    this.at.set(this.users[i]!, i);
    this.at.set(u, j);
  }
}
