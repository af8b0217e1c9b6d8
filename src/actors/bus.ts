// The transport between actors. Actors never hold references to each other across this
// boundary: they publish events to subjects (src/actors/subjects.ts) and subscribe to them.
// The in-process bus below serves the embedded single-node mode; a NATS bus implements the
// same interface for clusters.

import type { BusEvent } from "./events.ts";

export type Unsubscribe = () => void;

export interface Bus {
  /** Delivers `event` to every current subscriber of `subject`, on every node, in publish order. */
  publish(subject: string, event: BusEvent): void;
  /** Subscribes this node to `subject`; handlers on one subject see events in publish order. */
  subscribe(subject: string, handler: (event: BusEvent) => void): Unsubscribe;
  /**
   * Calls `handler` after the bus lost its connection and got it back. Events published in
   * between may never arrive, so listeners catch up from the store.
   */
  onRecovered(handler: () => void): Unsubscribe;
  close(): Promise<void>;
}

/**
 * In-process bus. Limits: one process only; events are passed by reference (publishers must not
 * mutate them afterwards) and dispatched synchronously, so handlers must only enqueue work.
 */
export class MemoryBus implements Bus {
  private readonly subs = new Map<string, Set<(event: BusEvent) => void>>();

  publish(subject: string, event: BusEvent): void {
    const handlers = this.subs.get(subject);
    if (!handlers) return;
    for (const h of handlers) h(event);
  }

  subscribe(subject: string, handler: (event: BusEvent) => void): Unsubscribe {
    let set = this.subs.get(subject);
    if (!set) this.subs.set(subject, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.subs.get(subject) === set) this.subs.delete(subject);
    };
  }

  /** An in-process bus has no connection to lose. */
  onRecovered(_handler: () => void): Unsubscribe {
    return () => {};
  }

  async close(): Promise<void> {
    this.subs.clear();
  }
}
