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
   * overlap the old connection on another node). A list, not a map of maps: most users have one
   * device connected, and a Map's table is ten times the size of a one-entry list, per online user.
   */
  readonly #online = new Map<string, Connection[]>();
  /** user -> ms of the disconnect that left the user with no device online. */
  readonly #lastSeen = new Map<string, number>();

  async deviceOnline(user: string, device: string, node: number, _nowMs: number): Promise<boolean> {
    const connections = this.#online.get(user);
    if (!connections) {
      this.#online.set(user, [{ device, node }]);
      return true;
    }
    if (!connections.some((c) => c.device === device && c.node === node)) connections.push({ device, node });
    return false;
  }

  async deviceOffline(user: string, device: string, node: number, nowMs: number): Promise<boolean> {
    const connections = this.#online.get(user);
    const i = connections?.findIndex((c) => c.device === device && c.node === node) ?? -1;
    // Not online on that node (a second close, say): nothing changes and the user was not just left offline.
    if (!connections || i < 0) return false;
    connections.splice(i, 1);
    if (connections.length > 0) return false;
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
    return [...new Set(this.#online.get(user)?.map((c) => c.device))];
  }

  async close(): Promise<void> {}
}
