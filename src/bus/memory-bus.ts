// In-process bus for the embedded single-node mode.
// Limits: one process only; events are passed by reference (publishers must not mutate them
// afterwards) and dispatched synchronously, so handlers must only enqueue work or do work that
// cannot wait.

import type { Bus, Unsubscribe } from "./bus.ts";
import type { BusEvent } from "./events.ts";

type Handler = (event: BusEvent) => void;

export class MemoryBus implements Bus {
  readonly distributed = false;
  private readonly subs = new Map<string, Set<Handler>>();

  /** `onHandlerError` hears what a handler threw; the publisher and the other handlers never do. */
  constructor(private readonly onHandlerError: (err: unknown, subject: string, event: BusEvent) => void = () => {}) {}

  publish(subject: string, event: BusEvent): void {
    const handlers = this.subs.get(subject);
    if (!handlers) return;
    for (const h of handlers) {
      try {
        h(event);
      } catch (err) {
        this.onHandlerError(err, subject, event);
      }
    }
  }

  subscribe(subject: string, handler: Handler): Unsubscribe {
    let set = this.subs.get(subject);
    if (!set) this.subs.set(subject, (set = new Set()));
    // A fresh wrapper per call: subscribing the same function twice needs two unsubscribes.
    const entry: Handler = (e) => handler(e);
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.subs.get(subject) === set) this.subs.delete(subject);
    };
  }

  /** Subscriptions take effect and events are delivered synchronously. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  /** An in-process bus has no connection to lose. */
  onRecovered(_handler: () => void): Unsubscribe {
    return () => {};
  }

  async close(): Promise<void> {
    this.subs.clear();
  }
}
