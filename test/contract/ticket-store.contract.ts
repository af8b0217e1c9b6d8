// Behaviour every TicketStore backend must show. Each backend's test file calls
// ticketStoreContract() with a factory that opens a fresh, empty store.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { TicketClaims, TicketStore } from "../../src/storage/types.ts";

export type OpenTicketStore = () => Promise<{ store: TicketStore; close: () => Promise<void> }>;

const claims: TicketClaims = { user: "alice", device: "phone", expiresAt: 1_700_000_900_000 };
const TTL = 30_000;
const NOW = 1_700_000_000_000;

export function ticketStoreContract(name: string, open: OpenTicketStore): void {
  describe(name, () => {
    let store: TicketStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    test("tickets are unguessable URL-safe strings, distinct each time", async () => {
      const a = await store.issue(claims, TTL, NOW);
      const b = await store.issue(claims, TTL, NOW);
      expect(a).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(a).not.toBe(b);
    });

    test("a ticket is redeemed once", async () => {
      const ticket = await store.issue(claims, TTL, NOW);
      expect(await store.redeem(ticket, NOW + 1)).toEqual(claims);
      expect(await store.redeem(ticket, NOW + 2)).toBeNull();
    });

    test("a ticket expires after its ttl", async () => {
      const early = await store.issue(claims, TTL, NOW);
      const late = await store.issue(claims, TTL, NOW);
      expect(await store.redeem(early, NOW + TTL - 1)).toEqual(claims);
      expect(await store.redeem(late, NOW + TTL)).toBeNull();
    });

    test("issuing after some tickets expired keeps longer-lived ones redeemable", async () => {
      const expired = await store.issue(claims, TTL, NOW);
      const live = await store.issue(claims, 10 * TTL, NOW);
      await store.issue(claims, TTL, NOW + 2 * TTL);
      expect(await store.redeem(expired, NOW + 2 * TTL)).toBeNull();
      expect(await store.redeem(live, NOW + 2 * TTL)).toEqual(claims);
    });

    test("an unknown ticket is refused", async () => {
      expect(await store.redeem("not-a-ticket", NOW)).toBeNull();
      expect(await store.redeem("", NOW)).toBeNull();
    });
  });
}
