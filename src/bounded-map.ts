// A Map that holds at most `max` entries and drops the oldest first: the caches and windows
// that remember the most recent N of something (client ids, conversations' last seqs, users'
// safety facts).
//
// Why not `map.delete(map.keys().next().value)`: in JavaScriptCore a deleted entry stays in the
// Map's table as a hole until the table is rebuilt, and a fresh iterator walks from the table's
// start across every hole. Evicting from the front makes the front all holes, so each eviction
// walked more of them: about 4 µs per insert into a full map of 2,048 entries and about 60 µs
// into one of 100,000, against 0.15 to 0.3 µs here (`bun bench/bounded-map.bench.ts`). Here one
// iterator lives as long as the map and only moves forward: the entries behind it are the ones
// it already evicted, so it never walks a hole twice.

export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  /** Yields the oldest entry next: every entry behind it was evicted through it. */
  #oldest: MapIterator<K> = this.#map.keys();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError("a BoundedMap holds at least one entry");
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Sets `key` (a key already held keeps its place in line), then drops the oldest beyond `max`. */
  set(key: K, value: V): this {
    this.#map.set(key, value);
    while (this.#map.size > this.max) {
      const next = this.#oldest.next();
      if (next.done) this.#oldest = this.#map.keys();
      else this.#map.delete(next.value);
    }
    return this;
  }

  /** Moves `key` to the back of the line, as if set last (a least-recently-used cache); its value or undefined. */
  touch(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined || this.#map.has(key)) {
      this.#map.delete(key);
      this.#map.set(key, value as V);
    }
    return value;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#oldest = this.#map.keys();
  }
}
