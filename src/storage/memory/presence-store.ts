// In-process PresenceStore. Limits: it only sees the devices connected to this process, so it
// serves a single-node deployment; everything is lost on restart (which is harmless: every
// connection is gone too); last-seen times are not persisted, so after a restart users read as
// never seen (lastSeen 0) until they disconnect again. Memory grows with the number of distinct
// users seen since startup (one last-seen entry each).

import type { PresenceInfo } from "../../proto/types.ts";
import type { PresenceStore } from "../types.ts";

/** One device connected on one node. */
interface Connection {
  device: string;
  node: number;
}

export class MemoryPresenceStore implements PresenceStore {
  /**
   * user -> where their devices are connected: one entry per device and node (a reconnect may
   * overlap the old connection on another node). Most users have one device connected, held as
   * is: a list of one would be two more cells per online user (as in memory-bus.ts), and a Map of
   * Maps ten times more.
   */
  readonly #online = new Map<string, Connection | Connection[]>();
  /** user -> ms of the disconnect that left the user with no device online. */
  readonly #lastSeen = new Map<string, number>();

  async deviceOnline(user: string, device: string, node: number, _nowMs: number): Promise<boolean> {
    const held = this.#online.get(user);
    if (held === undefined) {
      this.#online.set(user, { device, node });
      return true;
    }
    const list = Array.isArray(held) ? held : [held];
    if (list.some((c) => c.device === device && c.node === node)) return false;
    list.push({ device, node });
    if (list !== held) this.#online.set(user, list);
    return false;
  }

  async deviceOffline(user: string, device: string, node: number, nowMs: number): Promise<boolean> {
    const held = this.#online.get(user);
    const list = held === undefined ? [] : Array.isArray(held) ? held : [held];
    const i = list.findIndex((c) => c.device === device && c.node === node);
    // Not online on that node (a second close, say): nothing changes and the user was not just left offline.
    if (i < 0) return false;
    list.splice(i, 1);
    if (list.length > 0) {
      // Back to a lone connection, as if it had been the only one.
      if (list.length === 1) this.#online.set(user, list[0]!);
      return false;
    }
    this.#online.delete(user);
    this.#lastSeen.set(user, nowMs);
    return true;
  }

  /** Entries here cannot outlive their process, so there is nothing to keep alive. */
  async heartbeat(_user: string, _device: string, _node: number, _nowMs: number): Promise<void> {}

  /** In-process entries die with their process, never by expiry. */
  onExpired(_handler: (user: string, lastSeen: number) => void): () => void {
    return () => {};
  }

  async get(users: string[]): Promise<PresenceInfo[]> {
    return users.map((user) => ({
      user,
      online: this.#online.has(user),
      lastSeen: this.#lastSeen.get(user) ?? 0,
    }));
  }

  async onlineDevices(user: string): Promise<string[]> {
    const held = this.#online.get(user);
    if (held === undefined) return [];
    return Array.isArray(held) ? [...new Set(held.map((c) => c.device))] : [held.device];
  }

  async close(): Promise<void> {}
}
