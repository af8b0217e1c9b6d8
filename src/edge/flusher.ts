// Flushes the sockets that were written to during one turn of the event loop, once, after the
// turn's I/O callbacks (setImmediate): every frame a turn produced for a socket leaves in one
// write. The delay this adds is the rest of the current turn. The flush is queued behind the
// turn's end-of-turn work (src/turn-end.ts), so a group commit's acks and deliveries leave in
// the turn that committed them.

import { turnEndsQueued } from "../turn-end.ts";

/**
 * What waits for the end of the turn is written at once when it reaches this many bytes (a
 * backlog being streamed, a burst into a group): a WebSocket message, a Batch included, stays
 * this size or one frame more.
 */
export const EARLY_FLUSH_BYTES = 64 * 1024;

export interface Flushable {
  flush(): void;
}

export class Flusher {
  private dirty: Flushable[] = [];
  /** Flushes queued (setImmediate) and not yet run. */
  private queued = 0;
  /** turnEndsQueued() when the last of them was queued: it runs after that many end-of-turn tasks. */
  private queuedBehind = -1;

  constructor(private readonly onError: (err: unknown) => void) {}

  schedule(t: Flushable): void {
    this.dirty.push(t);
    if (this.queued === 0) this.queue();
  }

  /**
   * Called once a frame was handled: when end-of-turn work (src/turn-end.ts) was queued since the
   * last flush was, queues one behind it, so that what that work writes leaves in this turn. A
   * frame that queued none (a ping, a typing relay) queues nothing: what it wrote is scheduled.
   */
  arm(): void {
    if (this.queuedBehind !== turnEndsQueued()) this.queue();
  }

  private queue(): void {
    this.queued++;
    this.queuedBehind = turnEndsQueued();
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.queued--;
    const list = this.dirty;
    if (list.length === 0) return;
    this.dirty = [];
    for (const t of list) {
      try {
        t.flush();
      } catch (err) {
        this.onError(err);
      }
    }
  };
}
