// In-process bus for the embedded single-node mode.
// Limits: one process only; events are passed by reference (publishers must not mutate them
// afterwards) and dispatched synchronously, so handlers must only enqueue work or do work that
// cannot wait.

import type { Bus, Unsubscribe } from "./bus.ts";
import type { BusEvent } from "./events.ts";

type Handler = (event: BusEvent) => void;

export class MemoryBus implements Bus {
  readonly distributed = false;
  /** subject -> its handlers; most subjects (a user's) have one, so an array, not a set. */
  private readonly subs = new Map<string, Handler[]>();

  /** `onHandlerError` hears what a handler threw; the publisher and the other handlers never do. */
  constructor(private readonly onHandlerError: (err: unknown, subject: string, event: BusEvent) => void = () => {}) {}

  publish(subject: string, event: BusEvent): void {
    const list = this.subs.get(subject);
    if (!list) return;
    // A copy only when there are several: a handler may unsubscribe itself or others meanwhile.
    const handlers = list.length === 1 ? list : list.slice();
    for (const h of handlers) {
      try {
        h(event);
      } catch (err) {
        this.onHandlerError(err, subject, event);
      }
    }
  }

  subscribe(subject: string, handler: Handler): Unsubscribe {
    let list = this.subs.get(subject);
    if (!list) this.subs.set(subject, (list = []));
    list.push(handler);
    // Subscribing the same function twice needs two unsubscribes; each removes one entry, once.
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0 && this.subs.get(subject) === list) this.subs.delete(subject);
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
