// The Broadcaster over Bun's pub/sub. A topic lives in one listener (Bun.serve instance), and for a
// moment after a TLS reload there are several (listener.ts), so a frame is published in each.
//
// Each conversation has two topics: its own name, for connections that read one frame per
// WebSocket message, and batchTopic(name), for those that read Batch envelopes (frame-batch.ts).
// A frame goes to the first at once; for the second it waits for the end of the turn, with every
// other frame published to the conversation in that turn, and they leave as one message. Bun's
// ws.publish skips only the one socket it is called on, so a batch holding messages from several
// local senders reaches those senders too: each gets its own message back, which the protocol
// allows on such connections (the client drops it by its seq, docs/protocol.md §8.4). A batch
// whose frames all share one sender (or none) still skips it.

import type { Server } from "bun";
import type { Broadcaster, Transport } from "../actors/transport.ts";
import { encodeBatch } from "../proto/frame-batch.ts";
import { EARLY_FLUSH_BYTES, type Flushable, type Flusher } from "./flusher.ts";
import type { SocketTransport } from "./socket-transport.ts";

/** The topic of a conversation's connections that read batches. */
export function batchTopic(topic: string): string {
  return `batch:${topic}`;
}

interface PendingBatch {
  readonly frames: Uint8Array[];
  bytes: number;
  /** The one socket all frames skip; null once they differ. */
  except: SocketTransport | undefined | null;
}

export class EdgeBroadcaster implements Broadcaster, Flushable {
  /** This turn's frames for each conversation's batch topic, by conversation topic. */
  private readonly pending = new Map<string, PendingBatch>();
  private scheduled = false;

  constructor(
    private readonly listeners: () => Iterable<Server<unknown>>,
    private readonly flusher: Flusher,
  ) {}

  publish(topic: string, frame: Uint8Array, except?: Transport): void {
    const ex = except as SocketTransport | undefined;
    for (const server of this.listeners()) if (server.subscriberCount(topic) > 0) publishIn(server, topic, frame, ex);
    const b = this.pending.get(topic);
    if (!b) {
      this.pending.set(topic, { frames: [frame], bytes: frame.length, except: ex });
      if (!this.scheduled) {
        this.scheduled = true;
        this.flusher.schedule(this);
      }
      return;
    }
    b.frames.push(frame);
    b.bytes += frame.length;
    if (b.except !== ex) b.except = null;
    if (b.bytes >= EARLY_FLUSH_BYTES) this.flushTopic(topic);
  }

  /**
   * Publishes what waits for `topic`'s batch topic now: before a connection joins it (it has those
   * messages already) or leaves it (they are still its to receive).
   */
  flushTopic(topic: string): void {
    const b = this.pending.get(topic);
    if (!b) return;
    this.pending.delete(topic);
    this.write(topic, b);
  }

  /** End of the turn: every batch goes out. */
  flush(): void {
    this.scheduled = false;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [topic, b] of batches) this.write(topic, b);
  }

  private write(topic: string, b: PendingBatch): void {
    const to = batchTopic(topic);
    let frame: Uint8Array | null = null;
    for (const server of this.listeners()) {
      if (server.subscriberCount(to) === 0) continue;
      // Copied out of the encoder's scratch buffer: it must outlive a publish per listener, and a
      // publish may run a handler that encodes (a socket closed over its backpressure limit).
      frame ??= b.frames.length === 1 ? b.frames[0]! : encodeBatch(b.frames).slice();
      publishIn(server, to, frame, b.except ?? undefined);
    }
  }
}

function publishIn(server: Server<unknown>, topic: string, frame: Uint8Array, except: SocketTransport | undefined): void {
  // Bun's ws.publish reaches every subscriber but the socket it is called on.
  if (except && !except.closed && except.edge.server === server) except.publishToOthers(topic, frame);
  else server.publish(topic, frame);
}
