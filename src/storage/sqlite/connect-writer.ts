// What connections write, in batches: the users and devices seen for the first time, and the
// last-seen times of known devices. Every connection writes one of them before its upgrade. A
// first connect's two commits were about 40% of its CPU in the connections bench, while upgrades
// come in bursts (often 50 to 100 in one turn of the event loop there). So they are collected
// during a turn and written together after it (setImmediate), in one transaction.
//
// Until then the stores answer from here: a pending user or device is known, and counts towards
// its user's device limit. Every other read or write of `users` and `devices` calls flush()
// first, so it sees what a connection registered; a provisioning through the admin API, which
// answers "created", flushes before it answers.
//
// What a crash costs: the registrations and last-seen times of the connections accepted in the
// turn before it (or since a write that failed: the batch is kept and written with the next).
// Those devices register again when they reconnect, with a later first-seen time. No command
// waits on them: a connection's first command arrives in a later turn than its upgrade.

import type { Database } from "bun:sqlite";
import type { UserRow } from "../safety-rows.ts";

interface PendingDevice {
  user: string;
  device: string;
  firstSeen: number;
  lastSeen: number;
}

const deviceKey = (user: string, device: string) => `${user}\0${device}`;

export class ConnectWriter {
  readonly #users = new Map<string, UserRow>();
  /** New devices by deviceKey. */
  readonly #devices = new Map<string, PendingDevice>();
  /** How many of #devices each user has, for the device limit. */
  readonly #devicesOf = new Map<string, number>();
  /** Known devices' latest last-seen times, by deviceKey. */
  readonly #seen = new Map<string, { user: string; device: string; at: number }>();
  #scheduled = false;
  readonly #write: (users: UserRow[], devices: PendingDevice[], seen: { user: string; device: string; at: number }[]) => void;

  constructor(
    raw: Database,
    /** Told after each batch is written (the checkpointer watches the WAL grow). */
    private readonly afterCommit: () => void = () => {},
    /** Hears that a batch written after its turn failed (it is kept and tried with the next one). */
    private readonly warn: (message: string) => void = () => {},
  ) {
    // DO NOTHING: a row that exists already (written by another connection to the file since)
    // stays as it is, as the synchronous registration's conflict clause left it.
    const user = raw.query<never, [string, number, string]>(`INSERT INTO users (id, created_at, origin) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING`);
    const device = raw.query<never, [string, string, number, number]>(
      `INSERT INTO devices ("user", device, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING`,
    );
    const bump = raw.query<never, [number, string, string]>(`UPDATE devices SET last_seen = max(last_seen, ?1) WHERE "user" = ?2 AND device = ?3`);
    this.#write = raw.transaction((users: UserRow[], devices: PendingDevice[], seen: { user: string; device: string; at: number }[]) => {
      for (const u of users) user.run(u.id, u.createdAt, u.origin);
      for (const d of devices) device.run(d.user, d.device, d.firstSeen, d.lastSeen);
      for (const s of seen) bump.run(s.at, s.user, s.device);
    }).immediate;
  }

  /** A user registered in this batch, not yet written. */
  pendingUser(id: string): UserRow | undefined {
    return this.#users.get(id);
  }

  registerUser(row: UserRow): void {
    this.#users.set(row.id, row);
    this.#schedule();
  }

  /** Whether the device was registered in this batch (so it is known), bumping its last-seen time. */
  pendingDevice(user: string, device: string, at: number): boolean {
    const d = this.#devices.get(deviceKey(user, device));
    if (!d) return false;
    d.lastSeen = Math.max(d.lastSeen, at);
    return true;
  }

  /** The user's devices registered in this batch. */
  pendingDevicesOf(user: string): number {
    return this.#devicesOf.get(user) ?? 0;
  }

  registerDevice(user: string, device: string, at: number): void {
    this.#devices.set(deviceKey(user, device), { user, device, firstSeen: at, lastSeen: at });
    this.#devicesOf.set(user, this.pendingDevicesOf(user) + 1);
    this.#schedule();
  }

  /** A known device connected at `at`. */
  seen(user: string, device: string, at: number): void {
    const key = deviceKey(user, device);
    const s = this.#seen.get(key);
    if (s) s.at = Math.max(s.at, at);
    else this.#seen.set(key, { user, device, at });
    this.#schedule();
  }

  /** Writes what is pending now; throws what the database threw (the batch stays pending). */
  flush(): void {
    if (this.#users.size === 0 && this.#devices.size === 0 && this.#seen.size === 0) return;
    this.#write([...this.#users.values()], [...this.#devices.values()], [...this.#seen.values()]);
    // The write is synchronous: nothing was noted while it ran.
    this.#users.clear();
    this.#devices.clear();
    this.#devicesOf.clear();
    this.#seen.clear();
    this.afterCommit();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // A failed write (the database locked past busy_timeout) keeps the batch for the next
      // flush: a timer callback that threw would end the process. Said, not swallowed: until it
      // is written, the batch's registrations would not survive a crash.
      try {
        this.flush();
      } catch (err) {
        this.warn(`SQLite: connections' registrations and last-seen times not written yet (${(err as Error).message}); kept for the next batch`);
      }
    });
  }
}
