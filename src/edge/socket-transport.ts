// The Transport actors write to, over one of Bun's server WebSockets (uWebSockets inside Bun).
//
// Writes are queued and flushed once per event-loop turn, all frames of one socket inside one
// cork, so a socket that receives an ack, a message and a receipt in the same turn costs one
// write syscall instead of three (flusher.ts). A client that reads Batch envelopes (it said so in
// CONNECT) gets them as one WebSocket message, which it reads at once (frame-batch.ts).
//
// Slow consumers: this transport enforces the buffer limit itself, before uWebSockets would.
// uWebSockets drops every frame over its own limit, the close frame included, and then cuts the
// connection: the client would see 1006 mid-frame. So uWebSockets' limit is set above ours
// (edge.ts), and a frame that would take the socket past ours is not written; the caller closes
// with 4002, and that close frame still fits behind everything already queued.
//
// It is also the socket's own data (Bun's ws.data): made at the upgrade with who authenticated,
// it gets its socket when that opens, and then holds the device's session. One object per
// connection where there were three (data, claims, transport), and a small one: with eight
// fields JavaScriptCore makes it in 80 bytes (ten took 112), so what every socket of a listener
// shares is one reference (SocketEdge) and its two booleans are bits of one number.

import type { Server, ServerWebSocket } from "bun";
import type { AccessClaims } from "../auth/tokens.ts";
import type { DeviceSession } from "../actors/device-session.ts";
import type { Transport } from "../actors/transport.ts";
import { encodeBatch } from "../proto/frame-batch.ts";
import { batchTopic, type EdgeBroadcaster } from "./broadcaster.ts";
import { EARLY_FLUSH_BYTES, type Flusher } from "./flusher.ts";

/** What every socket of one listener shares (one reference per connection rather than one each). */
export interface SocketEdge {
  /** The listener (one of several for a moment after a TLS reload). */
  readonly server: Server<SocketTransport>;
  /** Bytes a socket may hold unread before the device counts as a slow consumer. */
  readonly limit: number;
  readonly flusher: Flusher;
  readonly broadcaster: EdgeBroadcaster;
}

/** Bits of SocketTransport's flags. */
const CLOSED = 1;
/** The client reads Batch envelopes: set by batchFrames(). */
const BATCHES = 2;

export class SocketTransport implements Transport {
  private flags = 0;
  /** Set when the socket opens (open()); nothing is written before. */
  private ws!: ServerWebSocket<SocketTransport>;
  /** Who authenticated at the upgrade, until the node has opened the device's session. */
  claims: AccessClaims | null;
  /** The device's session once the socket is open. */
  session: DeviceSession | null = null;
  /** Frames written this turn, sent by flush(); null when there are none (most sockets, most turns). */
  private queue: Uint8Array[] | null = null;
  private queuedBytes = 0;
  private drainWaiters: (() => void)[] | null = null;

  constructor(
    claims: AccessClaims,
    /** The listener the socket came in on, and what its sockets share. */
    readonly edge: SocketEdge,
  ) {
    this.claims = claims;
  }

  get closed(): boolean {
    return (this.flags & CLOSED) !== 0;
  }

  private get batches(): boolean {
    return (this.flags & BATCHES) !== 0;
  }

  /** The socket opened (Bun's `open`): frames may be written to it from now on. */
  opened(ws: ServerWebSocket<SocketTransport>): void {
    this.ws = ws;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.ws.getBufferedAmount() + this.queuedBytes + frame.length > this.edge.limit) return false;
    if (this.queue) this.queue.push(frame);
    else {
      this.queue = [frame];
      this.edge.flusher.schedule(this);
    }
    this.queuedBytes += frame.length;
    if (this.queuedBytes >= EARLY_FLUSH_BYTES) this.flush();
    return true;
  }

  /** Writes what was queued this turn: one cork, so one syscall for all of it. */
  flush(): void {
    const q = this.queue;
    if (!q) return;
    this.queue = null;
    this.queuedBytes = 0;
    if (this.closed) return;
    if (q.length === 1) this.ws.send(q[0]!, false);
    else if (this.batches) this.ws.send(encodeBatch(q), false);
    else
      this.ws.cork(() => {
        for (const f of q) this.ws.send(f, false);
      });
    // Someone waiting for room (a backlog stream) may have it now that the kernel took the bytes:
    // Bun calls `drain` only after it had to hold some back.
    if (this.drainWaiters) this.onDrain();
  }

  batchFrames(): void {
    this.flags |= BATCHES;
  }

  subscribe(topic: string): void {
    if (this.closed) return;
    // What is queued goes first: a topic's frames must not overtake it (a backlog before live messages).
    this.flush();
    if (this.batches) {
      // The topic's batch of this turn holds messages this socket was sent already.
      this.edge.broadcaster.flushTopic(topic);
      this.ws.subscribe(batchTopic(topic));
    } else {
      this.ws.subscribe(topic);
    }
  }

  unsubscribe(topic: string): void {
    if (this.closed) return;
    // Frames published to the topic before the socket leaves it are still its to receive. Those
    // waiting for this turn's batch are published now; and uWebSockets holds published frames
    // until the end of the loop iteration, and unsubscribing drops those not yet written to this
    // socket. Any send writes them first: a ping is the smallest (two bytes, and the client's
    // WebSocket answers it by itself).
    if (this.batches) this.edge.broadcaster.flushTopic(topic);
    this.ws.ping();
    this.ws.unsubscribe(this.batches ? batchTopic(topic) : topic);
  }

  /** Publishes to the topic's subscribers on this socket's listener, this socket excepted. */
  publishToOthers(topic: string, frame: Uint8Array): void {
    this.ws.publish(topic, frame);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    // What was accepted for this socket goes out first; the close frame follows it.
    this.flush();
    this.markClosed();
    this.ws.close(code, reason);
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount() + this.queuedBytes;
  }

  drained(): Promise<void> {
    if (this.closed || this.bufferedAmount() <= this.edge.limit / 4) return Promise.resolve();
    return new Promise((r) => (this.drainWaiters ??= []).push(r));
  }

  /** Called from Bun's `drain` handler. */
  onDrain(): void {
    if (this.bufferedAmount() <= this.edge.limit / 4) this.wake();
  }

  /** Called from Bun's `close` handler and by close(). */
  markClosed(): void {
    this.flags |= CLOSED;
    this.queue = null;
    this.queuedBytes = 0;
    this.wake();
  }

  private wake(): void {
    const w = this.drainWaiters;
    if (!w) return;
    this.drainWaiters = null;
    for (const f of w) f();
  }
}
