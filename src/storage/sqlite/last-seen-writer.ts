// Devices' last-seen times, written in batches. Every connection of a known device moves its
// last_seen; one write transaction each would make a reconnect storm (a restarted edge, a
// network blip) cost a WAL commit per device. The times are collected during a turn of the event
// loop and written together after it (setImmediate), in one transaction.
//
// What a crash costs: the last-seen times of the devices that connected in the turn before it
// (they read one turn older). Nothing else depends on last_seen; readers of it call flush() first.

import type { Database } from "bun:sqlite";

export class LastSeenWriter {
  /** user \0 device -> the latest time seen since the last write. */
  #pending = new Map<string, { user: string; device: string; at: number }>();
  #scheduled = false;
  readonly #write: (batch: { user: string; device: string; at: number }[]) => void;

  constructor(raw: Database) {
    const bump = raw.query<never, [number, string, string]>(`UPDATE devices SET last_seen = max(last_seen, ?1) WHERE "user" = ?2 AND device = ?3`);
    this.#write = raw.transaction((batch: { user: string; device: string; at: number }[]) => {
      for (const s of batch) bump.run(s.at, s.user, s.device);
    }).immediate;
  }

  seen(user: string, device: string, at: number): void {
    const key = `${user}\0${device}`;
    const p = this.#pending.get(key);
    if (p) p.at = Math.max(p.at, at);
    else this.#pending.set(key, { user, device, at });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // A failed write (the database locked past busy_timeout) keeps the batch for the next
      // flush: a timer callback that threw would end the process.
      try {
        this.flush();
      } catch {}
    });
  }

  /** Writes what is pending now; throws what the database threw (the batch stays pending). */
  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#write(batch);
    // The write is synchronous: nothing was noted while it ran.
    this.#pending.clear();
  }
}
