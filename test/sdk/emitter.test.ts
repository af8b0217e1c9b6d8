// The SDK's event emitter: each handler once, removals and additions during an emit taking effect
// from the next one, as with the Set it replaced.

import { expect, test } from "bun:test";
import { Emitter } from "../../src/sdk/emitter.ts";

class Events extends Emitter<{ tick: number }> {
  fire(n: number) {
    this.emit("tick", n);
  }
}

test("a handler added twice runs once; its remover works once, from either add", () => {
  const e = new Events();
  const got: number[] = [];
  const h = (n: number) => got.push(n);
  const off1 = e.on("tick", h);
  const off2 = e.on("tick", h);
  e.fire(1);
  off2();
  e.fire(2);
  off1();
  e.on("tick", h);
  e.fire(3);
  expect(got).toEqual([1, 3]);
});

test("handlers removed or added by a handler take effect from the next emit; once runs once", () => {
  const e = new Events();
  const got: string[] = [];
  let offB = () => {};
  e.on("tick", (n) => {
    got.push(`a${n}`);
    offB();
    e.on("tick", (m) => got.push(`c${m}`));
  });
  offB = e.on("tick", (n) => got.push(`b${n}`));
  e.once("tick", (n) => got.push(`once${n}`));
  e.fire(1);
  e.fire(2);
  // 1: a, then b and once (as registered when the emit began); c was added during it.
  // 2: a, then the c added at 1 (the c added now waits for emit 3).
  expect(got).toEqual(["a1", "b1", "once1", "a2", "c2"]);
});
