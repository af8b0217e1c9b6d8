// In-process bus for the embedded single-node mode.
// Limits: one process only; events are passed by reference (publishers must not mutate them
// afterwards) and dispatched synchronously, so listeners must only enqueue work or do work that
// cannot wait.

import type { Bus, BusListener, Unsubscribe } from "./bus.ts";
import type { BusEvent } from "./events.ts";

export class MemoryBus implements Bus {
  readonly distributed = false;
  /**
   * subject -> its listener, or its listeners when there are several. Most subjects (a user's)
   * have one, held as is: an array of one would be two more cells on every idle connection.
   */
  private readonly subs = new Map<string, BusListener | BusListener[]>();

  /** `onHandlerError` hears what a listener threw; the publisher and the other listeners never do. */
  constructor(private readonly onHandlerError: (err: unknown, subject: string, event: BusEvent) => void = () => {}) {}

  publish(subject: string, event: BusEvent): void {
    const subs = this.subs.get(subject);
    if (subs === undefined) return;
    if (!Array.isArray(subs)) return this.deliver(subs, subject, event);
    // A copy: a listener may subscribe or unsubscribe itself or others meanwhile.
    for (const l of subs.slice()) this.deliver(l, subject, event);
  }

  subscribe(subject: string, listener: BusListener): void {
    const subs = this.subs.get(subject);
    if (subs === undefined) this.subs.set(subject, listener);
    else if (Array.isArray(subs)) subs.push(listener);
    else this.subs.set(subject, [subs, listener]);
  }

  unsubscribe(subject: string, listener: BusListener): void {
    const subs = this.subs.get(subject);
    if (subs === listener) {
      this.subs.delete(subject);
    } else if (Array.isArray(subs)) {
      const i = subs.indexOf(listener);
      if (i < 0) return;
      subs.splice(i, 1);
      // Back to a lone listener, as if it had been the only one subscribed.
      if (subs.length === 1) this.subs.set(subject, subs[0]!);
    }
  }

  private deliver(listener: BusListener, subject: string, event: BusEvent): void {
    try {
      listener.onEvent(event);
    } catch (err) {
      this.onHandlerError(err, subject, event);
    }
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
