// Runs the presence and ticket contracts against the in-process backends.

import { MemoryPresenceStore } from "../../src/storage/memory/presence-store.ts";
import { MemoryTicketStore } from "../../src/storage/memory/ticket-store.ts";
import { presenceStoreContract } from "./presence-store.contract.ts";
import { ticketStoreContract } from "./ticket-store.contract.ts";

presenceStoreContract("memory presence store", async () => {
  const store = new MemoryPresenceStore();
  return { store, close: () => store.close() };
});

ticketStoreContract("memory ticket store", async () => {
  const store = new MemoryTicketStore();
  return { store, close: () => store.close() };
});
