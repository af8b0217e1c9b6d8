// In-process PresenceStore. Limits: it only sees the devices connected to this process, so it
// serves a single-node deployment; everything is lost on restart (which is harmless: every
// connection is gone too); last-seen times are not persisted, so after a restart users read as
// never seen (lastSeen 0) until they disconnect again. Memory grows with the number of distinct
// users seen since startup (one last-seen entry each).

import type { PresenceInfo } from "../../proto/types.ts";
import type { PresenceStore } from "../types.ts";

export class MemoryPresenceStore implements PresenceStore {
  /**
   * user -> device -> the node it is connected on, or the nodes when several (a reconnect may
   * overlap the old connection): a plain number in the common case, no set per connection.
   */
  readonly #online = new Map<string, Map<string, number | Set<number>>>();
  /** user -> ms of the disconnect that left the user with no device online. */
  readonly #lastSeen = new Map<string, number>();

  async deviceOnline(user: string, device: string, node: number, _nowMs: number): Promise<boolean> {
    let userDevices = this.#online.get(user);
    const wasOffline = userDevices === undefined;
    if (!userDevices) {
      userDevices = new Map();
      this.#online.set(user, userDevices);
    }
    const nodes = userDevices.get(device);
    if (nodes === undefined || nodes === node) userDevices.set(device, node);
    else if (typeof nodes === "number") userDevices.set(device, new Set([nodes, node]));
    else nodes.add(node);
    return wasOffline;
  }

  async deviceOffline(user: string, device: string, node: number, nowMs: number): Promise<boolean> {
    const userDevices = this.#online.get(user);
    const nodes = userDevices?.get(device);
    // Not online on that node (a second close, say): nothing changes and the user was not just left offline.
    if (!userDevices || nodes === undefined) return false;
    if (typeof nodes === "number") {
      if (nodes !== node) return false;
    } else {
      if (!nodes.delete(node)) return false;
      if (nodes.size > 0) return false;
    }
    userDevices.delete(device);
    if (userDevices.size > 0) return false;
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
    return [...(this.#online.get(user)?.keys() ?? [])];
  }

  async close(): Promise<void> {}
}
