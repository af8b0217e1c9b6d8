// The transport between actors. Actors never hold references to each other across this
// boundary: they publish events to subjects (src/bus/subjects.ts) and subscribe to them.
// MemoryBus (memory-bus.ts) serves the embedded single-node mode; NatsBus (nats-bus.ts)
// implements the same interface for clusters. Both run the contract suite in test/contract/.

import type { BusEvent } from "./events.ts";

export type Unsubscribe = () => void;

/**
 * What hears a subject's events: an object, not a closure. Every user with a device connected
 * holds a subscription, and a handler closure plus the unsubscribe closure over it were a quarter
 * of the JavaScript heap an idle connection holds (bench/connection-heap.bench.ts: 912 bytes of
 * cells per connection with them, 687 without); a user actor is its own listener.
 */
export interface BusListener {
  onEvent(event: BusEvent): void;
}

export interface Bus {
  /**
   * True when other nodes share this bus (NATS): a conversation's events may then come from
   * another node's actor. False for the in-process bus, where this node is the only publisher.
   */
  readonly distributed: boolean;
  /** Delivers `event` to every current subscriber of `subject`, on every node, in publish order. */
  publish(subject: string, event: BusEvent): void;
  /**
   * Subscribes this node to `subject`; listeners on one subject see events in publish order. A
   * listener that throws is logged and skipped: it never reaches the publisher or other listeners.
   * A listener subscribed twice hears each event twice, and needs two unsubscribes.
   */
  subscribe(subject: string, listener: BusListener): void;
  /** Undoes one subscribe(subject, listener); nothing when there is none left to undo. */
  unsubscribe(subject: string, listener: BusListener): void;
  /**
   * Resolves once every subscription this node made so far is in place on the bus, and every
   * event it published so far has been handed to the subscribers' connections: an event another
   * node publishes after that reaches those subscriptions. A node calls it where it must be
   * subscribed before it answers (a device must not be told it is live, nor a conversation be
   * read, before this node hears that subject). NATS: one round trip to the server, which handles
   * a connection's commands in order; within one server, not across a NATS cluster's routes. It
   * never rejects and gives up after a few seconds while the connection is down (the catch-up
   * after an outage covers that case).
   */
  ready(): Promise<void>;
  /**
   * Calls `handler` after the bus lost its connection and got it back. Events published in
   * between may never arrive, so listeners catch up from the store.
   */
  onRecovered(handler: () => void): Unsubscribe;
  close(): Promise<void>;
}
