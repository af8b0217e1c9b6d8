// Flushes the sockets that were written to during one turn of the event loop, once, after the
// turn's I/O callbacks (setImmediate): every frame a turn produced for a socket leaves in one
// write. The delay this adds is the rest of the current turn.

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
  private scheduled = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  schedule(t: Flushable): void {
    this.dirty.push(t);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const list = this.dirty;
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
