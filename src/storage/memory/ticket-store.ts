// In-process TicketStore. Limits: a ticket can only be redeemed in the process that issued it,
// so it serves a single-node deployment (or a load balancer with sticky routing from the ticket
// request to the WebSocket upgrade); outstanding tickets are lost on restart, which costs the
// client one more ticket request.

import type { TicketClaims, TicketStore } from "../types.ts";

interface Entry {
  claims: TicketClaims;
  expiresAt: number;
}

function randomTicket(): string {
  // 256 bits: unguessable, and base64url so it can travel in a URL query unescaped.
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export class MemoryTicketStore implements TicketStore {
  /** Insertion order is issue order, which is expiry order while callers use one ttl. */
  readonly #tickets = new Map<string, Entry>();

  async issue(claims: TicketClaims, ttlMs: number, nowMs: number): Promise<string> {
    this.#sweep(nowMs);
    const ticket = randomTicket();
    this.#tickets.set(ticket, { claims, expiresAt: nowMs + ttlMs });
    return ticket;
  }

  async redeem(ticket: string, nowMs: number): Promise<TicketClaims | null> {
    const entry = this.#tickets.get(ticket);
    if (!entry) return null;
    this.#tickets.delete(ticket);
    return nowMs < entry.expiresAt ? entry.claims : null;
  }

  /**
   * Drops expired tickets from the oldest end and stops at the first live one: amortized O(1)
   * per issue, and memory stays bounded by issue rate x ttl (a longer-lived ticket only delays
   * the sweep of those behind it until it expires too).
   */
  #sweep(nowMs: number): void {
    for (const [ticket, entry] of this.#tickets) {
      if (nowMs < entry.expiresAt) return;
      this.#tickets.delete(ticket);
    }
  }

  async close(): Promise<void> {
    this.#tickets.clear();
  }
}
