// A value derived from an object, computed once and kept on the object itself: a message's
// encoded frame, a receipt event's frame.
//
// Why not a WeakMap: with Bun, every young ("eden") collection slows down with the entries of a
// WeakMap whose keys have outlived one collection, and Bun runs an eden collection every 16 to
// 60 ms while the server is busy. Keyed by every message in flight, such a WeakMap made each
// eden pause about 7 ms instead of under 1 (`bun bench/gc-pressure.bench.ts`: weakmap, memo).
//
// The value is a non-enumerable, symbol-keyed property: Object.keys, for..in, msgpack, JSON and
// equality checks do not see it, and it goes when the object goes.

export class ObjectMemo<K extends object, V> {
  readonly #slot: symbol;

  /** `name` names the slot (it shows in a debugger). */
  constructor(name: string) {
    this.#slot = Symbol(name);
  }

  get(obj: K): V | undefined {
    return (obj as Record<symbol, V | undefined>)[this.#slot];
  }

  /** Keeps `value` on `obj` (replacing what it held) and returns it. */
  set(obj: K, value: V): V {
    Object.defineProperty(obj, this.#slot, { value, writable: true, configurable: true, enumerable: false });
    return value;
  }
}
