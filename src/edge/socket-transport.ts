// The Transport actors write to, over one of Bun's server WebSockets (uWebSockets inside Bun).

import type { ServerWebSocket } from "bun";
import type { Transport } from "../actors/transport.ts";

export class SocketTransport implements Transport {
  closed = false;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly ws: ServerWebSocket<unknown>,
    /** Bytes the socket may hold unread before the device counts as a slow consumer. */
    private readonly limit: number,
  ) {}

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    // -1: queued behind unread data; 0: dropped (connection gone); n > 0: written.
    const r = this.ws.send(frame, false);
    return !(r === 0 || (r === -1 && this.ws.getBufferedAmount() > this.limit));
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.markClosed();
    this.ws.close(code, reason);
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  drained(): Promise<void> {
    if (this.closed || this.ws.getBufferedAmount() <= this.limit / 4) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Called from Bun's `drain` handler. */
  onDrain(): void {
    if (this.ws.getBufferedAmount() <= this.limit / 4) this.wake();
  }

  /** Called from Bun's `close` handler and by close(). */
  markClosed(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}
